#!/usr/bin/env bash
# Fetches the default pretraining corpus, the npm package chinese-poetry (classical Chinese
# poems, MIT licence), and converts it to plain text with one document per line:
#   CACHE_DIR/npm/chinese-poetry-VERSION.tgz      the package, checked against a pinned SHA-256
#   CACHE_DIR/corpus/chinese-poetry.txt           title and verses of each poem on one line
# Usage: scripts/fetch_corpus.sh [CACHE_DIR]   (default: cache)
# `flashquad prepare` runs this when data.train_files is empty and the text file is missing.
# npm is used through its own configuration, so a private registry or mirror set there applies.
set -euo pipefail

cache_dir="${1:-cache}"
version="2.0.1"
sha256="25b549e46919c3a0569db6b68ddc96956b04a484ea4518ad2bbd4f137e307e86"
integrity="sha512-KtYARvV7CWNtax0na9+Jn6PlhGgSoid7PWyDzXI4KsCEm2odZcqEQyval5koaLygZnM/EQ3lfJ//25K8p3uHNg=="

fail() {
  echo "fetch_corpus: $*" >&2
  exit 1
}

# npm and Node.js are only needed here, so the build does not install them; try once now.
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  installer="$(dirname "$0")/install_deps.sh"
  if [ -x "$installer" ] || [ -f "$installer" ]; then
    echo "fetch_corpus: npm is missing; installing it with scripts/install_deps.sh --npm" >&2
    bash "$installer" --npm || true
  fi
fi

for tool in npm node tar sha256sum; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    fail "$tool is not installed. Install npm and Node.js (as root: apt-get install npm), or set" \
      "data.train_files in your config to your own UTF-8 text or JSON Lines files."
  fi
done

npm_dir="$cache_dir/npm"
corpus_dir="$cache_dir/corpus"
tgz="$npm_dir/chinese-poetry-$version.tgz"
out="$corpus_dir/chinese-poetry.txt"
mkdir -p "$npm_dir" "$corpus_dir"

# 1. Download (npm verifies the registry's sha512 integrity while packing).
if [ ! -f "$tgz" ]; then
  echo "fetch_corpus: npm pack chinese-poetry@$version"
  (cd "$npm_dir" && npm pack "chinese-poetry@$version" --silent >/dev/null) ||
    fail "npm pack chinese-poetry@$version failed (no network or registry access?). Set" \
      "data.train_files to your own text files instead."
fi

# 2. Verify the pinned checksums.
actual=$(sha256sum "$tgz" | cut -d' ' -f1)
if [ "$actual" != "$sha256" ]; then
  rm -f "$tgz"
  fail "SHA-256 of $tgz is $actual, expected $sha256; the file was removed, run again."
fi
actual_integrity="sha512-$(node -e 'const c=require("crypto"),f=require("fs");
  process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tgz")"
if [ "$actual_integrity" != "$integrity" ]; then
  rm -f "$tgz"
  fail "sha512 integrity of $tgz does not match the pinned value; the file was removed, run again."
fi

# 3. Unpack and convert. Poems are objects with a "paragraphs" or "content" list of verse strings
# and an optional "title"; author lists, tone patterns (strains), rankings, the error list and the
# duplicate Yuding Quantangshi edition are skipped. Files are read in sorted order so the output
# is the same on every machine.
work=$(mktemp -d "$npm_dir/unpack.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar xzf "$tgz" -C "$work"
node - "$work/package/dist" "$out.tmp" <<'JS'
const fs = require("fs");
const path = require("path");
const [root, outPath] = process.argv.slice(2);
const skip = /(^|\/)(strains|rank|error|yudingquantangshi)(\/|$)|(^|\/)authors?\.[^/]*\.json$/;
function walk(dir) {
  let files = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (fs.statSync(full).isDirectory()) files = files.concat(walk(full));
    else if (name.endsWith(".json")) files.push(full);
  }
  return files;
}
const clean = (s) => String(s).replace(/\s+/g, " ").trim();
const out = fs.openSync(outPath, "w");
let documents = 0;
function visit(node, title) {
  if (Array.isArray(node)) {
    for (const item of node) visit(item, title);
    return;
  }
  if (node === null || typeof node !== "object") return;
  const ownTitle = typeof node.title === "string" ? node.title
                 : typeof node.chapter === "string" ? node.chapter : title;
  for (const key of ["paragraphs", "content"]) {
    const verses = node[key];
    if (Array.isArray(verses) && verses.length > 0 && verses.every((v) => typeof v === "string")) {
      const text = clean([ownTitle || ""].concat(verses).join(" "));
      if (text) {
        fs.writeSync(out, text + "\n");
        documents++;
      }
      return;
    }
    if (Array.isArray(verses)) visit(verses, ownTitle);
  }
}
for (const file of walk(root)) {
  const rel = path.relative(root, file);
  if (skip.test(rel)) continue;
  visit(JSON.parse(fs.readFileSync(file, "utf8")), "");
}
fs.closeSync(out);
console.log(`fetch_corpus: ${documents} documents`);
JS
mv "$out.tmp" "$out"
echo "fetch_corpus: wrote $out ($(du -h "$out" | cut -f1))"
