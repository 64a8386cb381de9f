# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection version, sent in the User-Agent header (kept equal to galaxy.yml by a unit test)."""

COLLECTION_VERSION = "0.1.0"
USER_AGENT = "cloudpartner.csp/" + COLLECTION_VERSION
