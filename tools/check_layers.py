#!/usr/bin/env python3
"""Fails when a source file or public header includes a header of a layer above its own.

The layers come from the README's "Layers" table (its source of truth): one row per
layer, lowest first, with its source folders and its public headers. A file belongs to the
layer of its folder (src/<dir>/...) or, for include/radars/*.h, to the layer that lists it;
it may include headers of its own layer and of the layers below.

  tools/check_layers.py [--root DIR]     exit 0 when clean, 1 with one line per violation
"""
import argparse
import os
import re
import sys


def read_layers(readme):
    """[(name, [source dirs], [public headers])] from the README table after '### Layers'."""
    layers, inside = [], False
    for line in open(readme, encoding="utf-8"):
        if line.startswith("### Layers"):
            inside = True
            continue
        if inside and line.startswith("#"):
            break
        if not inside or not line.startswith("|"):
            continue
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("layer", "") or set(cells[0]) <= set("-: "):
            continue
        dirs = [d.strip("`") for d in cells[1].split()]
        headers = [h.strip("`") for h in cells[2].split()]
        layers.append((cells[0], dirs, headers))
    return layers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    root = ap.parse_args().root
    layers = read_layers(os.path.join(root, "README.md"))
    if not layers:
        print("check_layers: README.md has no '### Layers' table", file=sys.stderr)
        return 1
    rank, of_dir, of_header = {}, {}, {}
    for i, (name, dirs, headers) in enumerate(layers):
        rank[name] = i
        for d in dirs:
            of_dir[d.rstrip("/")] = name
        for h in headers:
            of_header["radars/" + h] = name

    def layer_of_include(inc):
        if inc in of_header:
            return of_header[inc]
        top = inc.split("/")[0]
        return of_dir.get("src/" + top)

    bad, files = [], 0
    for base in ("src", "include/radars"):
        for dirpath, _, names in os.walk(os.path.join(root, base)):
            for n in sorted(names):
                if not n.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, n)
                rel = os.path.relpath(path, root)
                if rel.startswith("include/"):
                    own = of_header.get("radars/" + n)
                else:
                    own = of_dir.get("/".join(rel.split("/")[:2]))
                if own is None:
                    bad.append(f"{rel}: in no layer of README.md's Layers table")
                    continue
                files += 1
                for ln, line in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
                    m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                    if not m:
                        continue
                    target = layer_of_include(m.group(1))
                    if target is not None and rank[target] > rank[own]:
                        bad.append(f"{rel}:{ln}: layer {own} includes {m.group(1)} of layer {target} above it")
    for b in bad:
        print(b)
    print(f"check_layers: {files} files, {len(layers)} layers "
          f"({' < '.join(n for n, _, _ in layers)}), {len(bad)} violations", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
