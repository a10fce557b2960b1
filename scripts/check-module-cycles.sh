#!/usr/bin/env bash
# Lists the `crate::` imports between the modules of the fluxora library and fails on any
# import cycle.
#
# Two levels are checked:
#   1. top-level modules (`src/X.rs` or `src/X/`), e.g. `config -> address`;
#   2. the submodules of every module that is a directory (`http/`, `webhooks/`, `streams/`,
#      `indexer/`, `store/`, …), e.g. `http::ratelimit -> http::auth`. The parent file
#      (`http/mod.rs`) is its own node, `http`: a child using an item of `mod.rs`
#      (`AppState`) is an edge `http::child -> http`, while the parent's own uses of its children
#      (declaring and wiring them into the router) are the module tree, not edges; so the parent
#      never closes a cycle, and cycles are among sibling submodules.
#
# A reference counts wherever a `crate::a::b` or `super::b` path appears in code (a `use` line,
# a path in an expression or a type, test code included); comment lines (`//`, `///`, `//!`) do
# not count, so doc links never make a cycle. The binary's own modules (`main.rs`, `cli/`) are
# not part of the library and are skipped, and so are sibling test modules (`foo/tests.rs`):
# a test may use any module to build its fixtures without that being a dependency of the code.
#
# Usage: scripts/check-module-cycles.sh [--edges]
#   --edges  also print every edge with the places that create it
# Exit status: 0 without cycles, 1 with at least one (each printed with the lines causing it).
set -euo pipefail
cd "$(dirname "$0")/.."

exec python3 - "crates/fluxora/src" "$@" <<'PY'
import os
import re
import sys

SRC = sys.argv[1]
SHOW_EDGES = "--edges" in sys.argv[2:]
# Top-level modules whose submodules are nodes too: every module that is a directory.
SPLIT = tuple(
    sorted(
        entry
        for entry in os.listdir(SRC)
        if os.path.isdir(os.path.join(SRC, entry)) and entry not in ("cli",)
    )
)
SKIP = ("main.rs", "cli")     # the binary, not the library

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def rust_files():
    for dirpath, dirnames, filenames in os.walk(SRC):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".rs"):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, SRC)
                if rel.split(os.sep)[0] in SKIP or name == "tests.rs":
                    continue
                yield path, rel.split(os.sep)


def stem(part):
    return part[:-3] if part.endswith(".rs") else part


def submodules(top):
    """Names of the direct submodules of a split module (files and directories)."""
    names = set()
    directory = os.path.join(SRC, top)
    for entry in os.listdir(directory):
        name = stem(entry)
        if name != "mod":
            names.add(name)
    return names


SUBS = {top: submodules(top) for top in SPLIT if os.path.isdir(os.path.join(SRC, top))}


def node_of(parts):
    """The node a file belongs to: `config`, `http`, `http::auth`..."""
    top = stem(parts[0])
    if top in SUBS and len(parts) > 1:
        sub = stem(parts[1])
        return top if sub == "mod" else f"{top}::{sub}"
    return top


def target(first, second):
    """The node a path `crate::first::second...` points into."""
    if first in SUBS and second in SUBS[first]:
        return f"{first}::{second}"
    return first


def code_lines(path):
    """(line number, text) of code lines: comment lines are blanked."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            stripped = line.lstrip()
            yield number, "" if stripped.startswith("//") else line


def group_items(text, start):
    """Top-level items of a `{...}` group starting at text[start] == '{'."""
    depth, item, items = 0, "", []
    for char in text[start:]:
        if char == "{":
            depth += 1
            if depth == 1:
                continue
        elif char == "}":
            depth -= 1
            if depth == 0:
                items.append(item)
                break
        if depth == 1 and char == ",":
            items.append(item)
            item = ""
        else:
            item += char
    return [i.strip() for i in items if i.strip()]


def module_path(parts):
    """The module path of a file: `http/ratelimit/redis_gcra.rs` -> [http, ratelimit, redis_gcra]."""
    names = [stem(p) for p in parts]
    return names[:-1] if names[-1] == "mod" else names


def inline_depths(lines):
    """For each line number, how many inline `mod name {` blocks enclose it (rustfmt layout:
    the closing brace is alone at the indentation of its `mod` line)."""
    depths, stack = {}, []
    for number, line in lines:
        opening = re.match(r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{\s*$", line)
        if stack and line.rstrip("\n") == stack[-1] + "}":
            stack.pop()
        depths[number] = len(stack)
        if opening:
            stack.append(opening.group(1))
    return depths


def references(path, parts):
    """Yields (full path as a list of names, line) for every `crate::`/`super::` path in code."""
    lines = list(code_lines(path))
    depths = inline_depths(lines)
    text = "".join(line for _, line in lines)
    starts, total = [], 0
    for number, line in lines:
        starts.append((total, number))
        total += len(line)

    def line_at(position):
        found = 1
        for offset, number in starts:
            if offset > position:
                break
            found = number
        return found

    here = module_path(parts)
    for match in re.finditer(r"\b(crate|(?:super::)*super)::", text):
        rest = match.end()
        line = line_at(match.start())
        if match.group(1) == "crate":
            base = []
        else:
            ups = match.group(1).count("super") - depths.get(line, 0)
            if ups <= 0:
                continue  # inside the file's own module
            base = here[:-ups] if ups <= len(here) else []
        if text.startswith("{", rest):
            items = group_items(text, rest)
        else:
            items = [text[rest:rest + 200]]
        for item in items:
            names = re.match(rf"({IDENT})(?:\s*::\s*({IDENT}))?", item)
            if names:
                full = base + [n for n in names.groups() if n]
                if full and full[0] not in ("self", "super", "crate"):
                    yield full, line


edges = {}  # (level, source, target) -> ["file:line", ...]
for path, parts in rust_files():
    source = node_of(parts)
    top = source.split("::")[0]
    rel = os.path.relpath(path, SRC)
    for full, line in references(path, parts):
        dest = target(full[0], full[1] if len(full) > 1 else "")
        dest_top = dest.split("::")[0]
        where = f"src/{rel}:{line}"
        if dest_top != top:
            edges.setdefault(("top-level modules", top, dest_top), []).append(where)
        elif top in SUBS and dest != source:
            edges.setdefault((f"{top}/ submodules", source, dest), []).append(where)


def cycles(nodes, graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return found


sys.setrecursionlimit(10000)
failed = False
for level in sorted({level for level, _, _ in edges}):
    level_edges = {(s, t): w for (lv, s, t), w in edges.items() if lv == level}
    graph, nodes = {}, set()
    for s, t in level_edges:
        graph.setdefault(s, set()).add(t)
        nodes.update((s, t))
    print(f"== {level}: {len(nodes)} modules, {len(level_edges)} import edges")
    if SHOW_EDGES:
        for (s, t), where in sorted(level_edges.items()):
            shown = ", ".join(where[:3]) + (f", … ({len(where)} places)" if len(where) > 3 else "")
            print(f"   {s} -> {t}    [{shown}]")
    found = cycles(nodes, graph)
    if not found:
        print("   no cycles")
    for component in found:
        failed = True
        members = set(component)
        print(f"   CYCLE among {', '.join(component)}:")
        for (s, t), where in sorted(level_edges.items()):
            if s in members and t in members:
                shown = ", ".join(where[:3]) + (f", … ({len(where)} places)" if len(where) > 3 else "")
                print(f"      {s} -> {t}    [{shown}]")
        if "store" in members:
            rest = {n: {t for t in ts if t != "store"} for n, ts in graph.items() if n != "store"}
            left = [c for c in cycles(members - {"store"}, rest) if set(c) <= members]
            if left:
                print("      without store, still a cycle among: "
                      + "; ".join(", ".join(c) for c in left))
            else:
                print("      without store: no cycle (every cycle here goes through store)")
if failed:
    print("module cycles found: move the shared item so the imports point one way "
          "(rerun with --edges for the whole graph)")
    sys.exit(1)
print("no module cycles")
PY
