#!/usr/bin/env bash
# Renders the shard Indexed Job and the merge Job of one phase, as one multi-document YAML on stdout.
#
#   ops/k8s/render.sh --name NAME --image IMAGE --shards N --pipeline PATH --store PATH --claim PVC
#                     [--parallelism P] [--mount DIR] [--cpu C] [--part shards|merge]
#
# --part prints only the shard Job or only the merge Job (apply the merge once the shards are complete).
# PATH values are as the pods see them, on the volume mounted at DIR (default /data) from the ReadWriteMany
# claim PVC. Every placeholder must be given a value; an unknown option or a missing value exits 64.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
exec python3 - "$here" "$@" <<'PY'
import re, string, sys

here, args = sys.argv[1], sys.argv[2:]
values = {"PARALLELISM": None, "MOUNT": "/data", "CPU": "1", "PART": "all"}
names = {"--name": "NAME", "--image": "IMAGE", "--shards": "SHARDS", "--pipeline": "PIPELINE", "--store": "STORE",
         "--claim": "CLAIM", "--parallelism": "PARALLELISM", "--mount": "MOUNT", "--cpu": "CPU", "--part": "PART"}
def usage(message):
    sys.stderr.write("render.sh: %s\n" % message)
    sys.exit(64)
while args:
    option = args.pop(0)
    if option not in names or not args:
        usage("unknown option or missing value: %s" % option)
    values[names[option]] = args.pop(0)
for key in ("NAME", "IMAGE", "SHARDS", "PIPELINE", "STORE", "CLAIM"):
    if not values.get(key):
        usage("--%s is required" % key.lower())
if not re.fullmatch(r"[1-9][0-9]*", values["SHARDS"]):
    usage("--shards takes a count >= 1, not %s" % values["SHARDS"])
if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?", values["NAME"]):
    usage("--name must be a DNS label (lowercase letters, digits, '-'), not %s" % values["NAME"])
values["PARALLELISM"] = values["PARALLELISM"] or values["SHARDS"]
for key in ("PIPELINE", "STORE"):
    if not values[key].startswith(values["MOUNT"].rstrip("/") + "/"):
        usage("--%s %s is not on the shared volume mounted at %s" % (key.lower(), values[key], values["MOUNT"]))
if values["PART"] not in ("all", "shards", "merge"):
    usage("--part takes shards or merge, not %s" % values["PART"])
files = {"all": ("shard-job.yaml", "merge-job.yaml"), "shards": ("shard-job.yaml",), "merge": ("merge-job.yaml",)}
documents = []
for name in files[values["PART"]]:
    with open("%s/%s" % (here, name)) as file:
        documents.append(string.Template(file.read()).substitute(values))
sys.stdout.write("---\n".join(documents))
PY
