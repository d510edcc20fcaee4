#!/usr/bin/env bash
# Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/ (git-ignored), from
# what the tests already hold: the SDK wire captures (tests/sdk/wire/*.http, read by the
# decoder targets as they are), their decoded payloads and the JSON and TOML literals of
# tests/*.rs, the configuration examples of the docs, and a few hand-made ledger bodies.
# Idempotent: files are named by content.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec python3 - <<'PY'
import glob, hashlib, json, os, re

ROOT = ".."
def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)

# Decoders: each capture goes to its vendor's target, and (when its body is not already
# compressed) once more with the harness's X-Fuzz-Gzip header, to reach past decompression.
for path in sorted(glob.glob(f"{ROOT}/tests/sdk/wire/*.http")):
    name = os.path.basename(path)
    vendor = next((v for v in ("amplitude", "posthog", "segment") if name.startswith(v)), "mixpanel")
    raw = open(path, "rb").read()
    put(f"decode_{vendor}", raw)
    head, sep, body = raw.partition(b"\n\n")
    if sep and body and b"content-encoding" not in head.lower():
        put(f"decode_{vendor}", head + b"\nX-Fuzz-Gzip: 1" + sep + body)
    if body[:1] in (b"{", b"["):
        put("json_parse", body)

# JSON: the captures' decoded payloads, JSON literals of the tests, numbers and strings at
# the edges of what serde_json reads.
for entry in json.load(open(f"{ROOT}/tests/sdk/wire/index.json")):
    if "decoded" in entry:
        put("json_parse", json.dumps(entry["decoded"], ensure_ascii=False))
literals = []
for path in sorted(glob.glob(f"{ROOT}/tests/**/*.rs", recursive=True)):
    literals += re.findall(r'r#"(.*?)"#', open(path, encoding="utf-8").read(), re.S)
for lit in literals:
    if lit.lstrip()[:1] in ("{", "["):
        put("json_parse", lit)
for edge in ["0", "-0", "-0.0", "1e400", "-1e400", "18446744073709551615", "18446744073709551616",
             "-9223372036854775808", "-9223372036854775809", "1.7976931348623157e308",
             "5e-324", "2.4703282292062328e-324", "0.1e-999", '"\\ud83d\\ude00"', '"\\ud800"',
             '"\\u0000"', '{"a":1,"a":2}', '[' * 127 + ']' * 127, '[' * 128 + ']' * 128,
             ' \t\n{"k" : [true,false,null] }\r\n', '"\u00e9\\/\\b"']:
    put("json_parse", edge)

# Configuration: the example file, the docs' TOML blocks, the tests' configurations.
put("config_parse", open(f"{ROOT}/vendorwall.example.toml", encoding="utf-8").read())
for path in sorted(glob.glob(f"{ROOT}/*.md") + glob.glob(f"{ROOT}/docs/*.md")):
    for block in re.findall(r"```toml\n(.*?)```", open(path, encoding="utf-8").read(), re.S):
        put("config_parse", block)
for lit in literals:
    if re.search(r"^\s*(version\s*=|\[)", lit, re.M) and "=" in lit:
        put("config_parse", lit)

# Ledger codec: the first byte picks the mode (0 meta bytes, 1 batch bytes, 2 exposure
# round trip, 3 batch round trip).
put("ledger_codec", b"\x00" + b'{"s":"web","d":"ab","k":1,"c":["user.contact.email"],"t":1700000000000}')
put("ledger_codec", b"\x00\xe1\x03web\x01\x02ab\x00\x00\x01\x01\x05email\x00\x00\x00\xe8\x07\x01\x02cd\x00\x00")
put("ledger_codec", b"\x01\x01\x01\x02\x03\x04\x01\x80\x01\x05\x00\x00\x00\x01\x01")
put("ledger_codec", b"\x02" + bytes(range(64)))
put("ledger_codec", b"\x03" + bytes(range(64)))

for d in sorted(os.listdir("corpus")):
    print(f"{d}: {len(os.listdir(os.path.join('corpus', d)))} seeds")
PY
