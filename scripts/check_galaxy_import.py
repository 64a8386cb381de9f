#!/usr/bin/env python
"""Read galaxy-importer's output in DIR (galaxy-importer.log, importer_result.json): exit 1 unless the import
succeeded without a warning, found every module and plugin of the work tree, and rendered each one's docs."""

import glob
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(directory):
    with open(os.path.join(directory, "galaxy-importer.log"), encoding="utf-8") as handle:
        log = handle.read()
    problems = [line for line in log.splitlines() if re.match(r"^(WARNING|ERROR)\b", line)]
    if "Importer processing completed successfully" not in log:
        problems.append("galaxy-importer did not complete")
    with open(os.path.join(directory, "importer_result.json"), encoding="utf-8") as handle:
        result = json.load(handle)
    found = {(c["content_type"], c["name"]) for c in result["contents"]}
    for kind in ("modules", "inventory", "lookup"):
        for path in glob.glob(os.path.join(ROOT, "plugins", kind, "*.py")):
            name = os.path.splitext(os.path.basename(path))[0]
            if not name.startswith("_") and (kind.rstrip("s") if kind == "modules" else kind, name) not in found:
                problems.append("galaxy-importer did not find %s %s" % (kind, name))
    for entry in result["docs_blob"]["contents"]:
        if entry["content_type"] in ("module", "inventory", "lookup") and not entry.get("doc_strings"):
            problems.append("no documentation rendered for %s %s" % (entry["content_type"], entry["content_name"]))
    for problem in problems:
        print("galaxy-importer: " + problem)
    if problems:
        return 1
    print("galaxy-importer: %s imports cleanly (%d content items, documentation rendered)"
          % (result["metadata"]["name"], len(found)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
