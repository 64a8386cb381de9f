# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:

    # Modules that may change something; check_mode/diff_mode support is set per module.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  action_group:
    description: Use C(group/cloudpartner.csp.csp) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - cloudpartner.csp.csp
"""

    # Read-only modules
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: This action does not modify state.
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    support: N/A
    details: This action does not modify state.
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  action_group:
    description: Use C(group/cloudpartner.csp.csp) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - cloudpartner.csp.csp
"""
