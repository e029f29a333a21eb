#!/usr/bin/env python3
"""tests/gpu/emulator/rewrite.py IN OUT: a .cu (or header) rewritten for emu_runtime.h.

- kernel<<<grid, block[, shared[, stream]]>>>(args) becomes emu::launch(...). A kernel runs
  its threads as fibers when its body, or a __device__ function of the same file it
  calls (transitively), uses __syncthreads or a warp intrinsic. The launch's arguments
  are evaluated once per emulated thread, so they must have no side effects.
- `__shared__ T a[N], b[M];` becomes static arrays filled with 0xff at each block's start;
  `extern __shared__ T name[];` points at the launch's dynamic shared memory.
- EMU_ULP_NOISE=1: exp/log/pow/atan (std:: or the f forms) get deterministic errors of
  up to CUDA's documented ulp bounds, to check a test's tolerance against the GPU libm."""
import os, re, sys

SYNC = re.compile(r'__syncthreads|__syncwarp|__shfl\w*_sync|__ballot_sync|__any_sync|__all_sync')

def match_close(s, i, open_ch, close_ch):
    depth = 0
    for j in range(i, len(s)):
        if s[j] == open_ch: depth += 1
        elif s[j] == close_ch:
            depth -= 1
            if depth == 0: return j
    raise ValueError('unbalanced %s at %d' % (open_ch, i))

def function_bodies(src):
    bodies = {}
    for m in re.finditer(r'__(?:global|device)__[^;{}]*?\b(\w+)\s*\(', src):
        close = match_close(src, m.end() - 1, '(', ')')
        rest = src[close + 1:]
        k = len(rest) - len(rest.lstrip())
        while rest[k:].startswith('const'): k += 5; k += len(rest[k:]) - len(rest[k:].lstrip())
        if k < len(rest) and rest[k] == '{':
            start = close + 1 + k
            bodies.setdefault(m.group(1), '')
            bodies[m.group(1)] += src[start:match_close(src, start, '{', '}') + 1]
    return bodies

def sync_functions(bodies):
    sync = {n for n, b in bodies.items() if SYNC.search(b)}
    changed = True
    while changed:
        changed = False
        for n, b in bodies.items():
            if n not in sync and any(re.search(r'\b%s\s*[(<]' % re.escape(f), b) for f in sync):
                sync.add(n); changed = True
    return sync

def split_top(s):
    parts, depth, cur = [], 0, ''
    for ch in s:
        if ch in '([{': depth += 1
        if ch in ')]}': depth -= 1
        if ch == ',' and depth == 0: parts.append(cur); cur = ''
        else: cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]

def rewrite_launches(src, sync):
    out, pos, n = [], 0, 0
    pat = re.compile(r'(\w+)(\s*<[^<>;]*(?:<[^<>;]*>[^<>;]*)*>)?\s*<<<')
    while True:
        m = pat.search(src, pos)
        if not m: break
        cfg_end = src.index('>>>', m.end())
        cfg = split_top(src[m.end():cfg_end])
        open_paren = src.index('(', cfg_end)
        close = match_close(src, open_paren, '(', ')')
        args = src[open_paren + 1:close]
        name = m.group(1) + (m.group(2) or '')
        shared = cfg[2] if len(cfg) > 2 else '0'
        out.append(src[pos:m.start()])
        out.append('emu::launch("%s", dim3(%s), dim3(%s), %s, [&]() { %s(%s); }, %s)' % (
            m.group(1), cfg[0], cfg[1], shared, name, args, 'true' if m.group(1) in sync else 'false'))
        pos = close + 1
        n += 1
    out.append(src[pos:])
    return ''.join(out), n

src = open(sys.argv[1]).read()
if os.environ.get('EMU_ULP_NOISE'):  # model the GPU's libm: results off by up to its documented ulp error
    src = re.sub(r'(?<![\w.:])(?:std::)?(exp|log|pow|atan|expf|logf|powf|atanf)\s*\(', r'emu::noisy_\1(', src)
src = re.sub(r'extern\s+__shared__\s+(?:__align__\(\d+\)\s*)?([\w:]+)\s+(\w+)\s*\[\s*\]\s*;',
             r'\1* \2 = reinterpret_cast<\1*>(emu::dyn_shared.data());', src)
def poison_shared(m):
    names = [re.match(r'\s*(\w+)', d).group(1) for d in split_top(m.group(2))]
    return 'static %s %s; %s' % (m.group(1), m.group(2), ' '.join(
        'emu::poison_shared(&%s, sizeof %s);' % (n, n) for n in names))
# Static shared arrays: garbage (0xff bytes) at the start of every block, as on a GPU.
src = re.sub(r'(?<!extern )__shared__\s+([\w:<>]+)\s+([^;]+);', poison_shared, src)
sync = sync_functions(function_bodies(src))
src, n = rewrite_launches(src, sync)
sys.stderr.write('%s: %d launches; fiber kernels: %s\n' % (sys.argv[1], n, ' '.join(sorted(sync))))
open(sys.argv[2], 'w').write('#line 1 "%s"\n' % sys.argv[1] + src)
