#!/usr/bin/env bash
# Rebuilds ui/static/novnc.js from the pinned noVNC (package-lock.json): one minified
# file, so the console can serve it from the binary with no module loader (an ES module: noVNC uses top-level await). The file is
# committed; CI does not run this. MPL-2.0: noVNC's licence is copied beside the bundle.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
./node_modules/.bin/esbuild entry.js --bundle --minify --format=esm --target=es2022 \
  --legal-comments=inline --outfile=../../static/novnc.js
cp node_modules/@novnc/novnc/LICENSE.txt ../../static/novnc.LICENSE.txt
echo "// noVNC $(node -p 'JSON.parse(require("fs").readFileSync("node_modules/@novnc/novnc/package.json")).version') (MPL-2.0, see novnc.LICENSE.txt), bundled by ui/vendor/novnc/build.sh" | cat - ../../static/novnc.js > ../../static/novnc.js.tmp
mv ../../static/novnc.js.tmp ../../static/novnc.js
ls -l ../../static/novnc.js
