"""Docs that cannot drift: what the README and docs/ claim, held to the code and the card."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCH = ROOT / 'ros2_ws' / 'src' / 'track_node' / 'launch' / 'track_node.launch.py'


def test_every_environment_variable_the_project_reads_is_documented():
    code = [p for folder in ('src', 'ros2_ws/src', 'scripts') for p in (ROOT / folder).rglob('*')
            if p.suffix in ('.py', '.sh') and 'third_party' not in p.parts]
    names = set()
    for path in code:
        text = path.read_text()
        names.update(re.findall(r"(?:environ(?:\.get)?[\[(]|getenv\()'(TRACK_[A-Z0-9_]+)'", text))
        names.update(re.findall(r"_ENV = '(TRACK_[A-Z0-9_]+)'", text))
        names.update(re.findall(r'\$\{(TRACK_[A-Z0-9_]+):-', text))
    assert {'TRACK_DATA_ROOT', 'TRACK_MODEL', 'TRACK_EXTRAS'} <= names    # the scan works
    documented = set(re.findall(r'^\| `([A-Z_0-9]+)` \|', (ROOT / 'docs' / 'setup.md')
                                .read_text(), re.M))
    assert names - documented == set(), 'add them to docs/setup.md, Environment variables'


def test_the_node_page_names_every_launch_argument():
    declared = set(re.findall(r"DeclareLaunchArgument\(\s*'(\w+)'", LAUNCH.read_text()))
    page = (ROOT / 'docs' / 'node.md').read_text()
    paragraph = page[page.index('Launch arguments:'):].split('\n\n')[0]
    named = set(re.findall(r'`(\w+)`', paragraph))
    assert declared and declared - named == set()


def test_the_readme_figures_are_the_model_cards():
    import importlib.util
    spec = importlib.util.spec_from_file_location('model_card', ROOT / 'scripts' /
                                                  'model_card.py')
    card_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(card_script)
    readme = (ROOT / 'README.md').read_text()
    card = (ROOT / 'models' / 'MODEL_CARD.md').read_text()
    assert readme == card_script.readme_with_card(readme, card), \
        'the README differs from the card: python scripts/model_card.py (make card) rewrites it'
    # the check is not empty: a changed figure is caught
    assert card_script.readme_with_card(readme.replace('| **0.', '| **9.', 1), card) == readme
    assert len(re.findall(r'[\d.]+ M parameters', readme)) == 1
