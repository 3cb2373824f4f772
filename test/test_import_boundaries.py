"""The layering rules, checked on every import statement (lazy ones inside functions too).

- runtime never pulls in training, data or evaluation code;
- training never imports evaluation code; trackers from elsewhere (``foreign``) sit below
  both and import neither;
- the core never imports ROS;
- no two parts of the core import each other, directly or around a loop.
"""

import ast
import pathlib
import re
import subprocess
import sys
from typing import Dict, List, Set

SRC = pathlib.Path(__file__).resolve().parents[1] / 'src' / 'track_core'
ROS_PATTERN = re.compile(
    r'^\s*(import|from)\s+(rclpy|launch|launch_ros|cv_bridge|\w+_msgs|\w+_srvs|'
    r'track_interfaces|track_node)\b', re.M)


def _part(module: str) -> str:
    """track_core.net.heads -> net; track_core.checkpoint -> checkpoint."""
    pieces = module.split('.')
    return pieces[1] if len(pieces) > 1 else '__init__'


def _imports_of(path: pathlib.Path) -> Set[str]:
    """Every track_core module named by an import statement anywhere in ``path``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith('track_core'))
        elif isinstance(node, ast.ImportFrom) and node.module and \
                node.module.startswith('track_core'):
            found.add(node.module)
            found.update(f'{node.module}.{a.name}' for a in node.names)
    return found


def import_graph() -> Dict[str, Set[str]]:
    """Map each part to the parts it imports (statically, lazy imports included)."""
    graph: Dict[str, Set[str]] = {}
    for path in SRC.rglob('*.py'):
        rel = path.relative_to(SRC.parent).with_suffix('')
        part = _part('.'.join(rel.parts))
        targets = {_part(m) for m in _imports_of(path) if m.count('.') >= 1}
        graph.setdefault(part, set()).update(t for t in targets if t != part)
    return graph


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    cycles, state, stack = [], {}, []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 'open':
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 'done'

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def _reachable(graph, start):
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_no_part_of_the_core_imports_another_in_a_loop():
    graph = import_graph()
    assert {'net', 'runtime', 'train', 'export', 'checkpoint'} <= set(graph)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_lazy_loop():
    # the probe itself: a loop made of one lazy import is found
    assert _cycles({'runtime': {'export'}, 'export': {'runtime'}})
    tree = ast.parse('def f():\n    from track_core.export.onnx import export_onnx\n')
    lazy = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert lazy and lazy[0].module == 'track_core.export.onnx'


def test_runtime_reaches_no_training_data_or_evaluation_code():
    reach = _reachable(import_graph(), 'runtime')
    assert not reach & {'train', 'data', 'eval', 'importers'}, reach
    assert 'net' in reach


def test_training_and_foreign_trackers_keep_their_places():
    graph = import_graph()
    assert 'eval' not in _reachable(graph, 'train'), graph['train']
    assert not _reachable(graph, 'foreign') & {'train', 'data', 'eval'}, graph['foreign']
    assert 'foreign' in graph['train'] and 'foreign' in graph['eval']   # the probe saw them


def _modules_after(statement):
    code = (f'{statement}\nimport sys\n'
            'print("\\n".join(sorted(sys.modules)))')
    out = subprocess.run([sys.executable, '-c', code], check=True, capture_output=True,
                         text=True)
    return out.stdout.split()


def test_runtime_does_not_import_training_or_evaluation():
    mods = _modules_after('import track_core.runtime')
    bad = [m for m in mods if m.startswith(('track_core.train', 'track_core.data',
                                            'track_core.eval'))]
    assert not bad, bad
    assert 'track_core.runtime.tracker' in mods   # the probe itself worked


def test_core_never_imports_ros_at_run_time():
    mods = _modules_after('import track_core.runtime, track_core.net, track_core.export.onnx')
    bad = [m for m in mods if m.split('.')[0] in ('rclpy', 'cv_bridge', 'launch', 'launch_ros')
           or m.split('.')[0].endswith(('_msgs', '_srvs'))]
    assert not bad, bad


def test_core_sources_contain_no_ros_imports():
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob('*.py')
                 if ROS_PATTERN.search(p.read_text())]
    assert not offenders, offenders
    assert len(list(SRC.rglob('*.py'))) > 10
