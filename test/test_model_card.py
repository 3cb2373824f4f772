"""scripts/model_card.py --vittrack-only: the VitTrack section from its reports, the rest kept."""

import importlib.util
import json
import pathlib

import pytest

SCRIPTS = pathlib.Path(__file__).resolve().parents[1] / 'scripts'


@pytest.fixture
def card_script(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location('model_card', SCRIPTS / 'model_card.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, 'ROOT', tmp_path)
    (tmp_path / 'models').mkdir()
    return module


def _reports(root, auc):
    from vittrack_family import RECIPES      # noqa: F401 - the names the reports use
    names = ['VitTrack (OpenCV)'] + list(RECIPES)
    per = {n: {f's{i}': {'auc': auc[n] + 0.01 * i} for i in range(4)} for n in names}
    summary = {n: {'auc': auc[n], 'precision': 0.8, 'fps': 100.0} for n in names}
    folder = root / 'reports' / 'vittrack'
    folder.mkdir(parents=True)
    (folder / 'report.json').write_text(json.dumps(
        {'meta': {'hardware': 'test CPU'}, 'summary': summary, 'sequences': per}))
    rows = [{'tracker': {'VitTrack': 'default', 'VitTrack (OpenCV)': 'vittrack'}.get(n, n),
             'fps': 400.0, 'time_vs_reference': 0.8 if 'pruned' in n else 1.0} for n in names]
    (folder / 'speed.json').write_text(json.dumps({'rows': rows}))
    for threads in (1, 2):
        (folder / f'bench_t{threads}.json').write_text(json.dumps({'rows': [
            {'variant': v, 'model_ms': 1.0 * threads}
            for v in ('vittrack', 'vittrack_s2', 'nt3_ban2')]}))
    return root / 'reports'


def test_the_vittrack_section_is_replaced_and_the_rest_kept(card_script, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    card = tmp_path / 'models' / 'MODEL_CARD.md'
    card.write_text('# Model card\n\n## Figures\n\nkept\n\n## Limits and what would raise '
                    'them\n\nlimits\n')
    auc = {'VitTrack (OpenCV)': 0.45, 'VitTrack': 0.66, 'VitTrack trained on (control)': 0.65,
           'pruned 3 -> 2': 0.58, 'CompressTracker-2': 0.53, 'shipped default': 0.72}
    reports = _reports(tmp_path, auc)
    assert card_script._rewrite_vittrack(reports) == 0
    assert card_script._rewrite_vittrack(reports) == 0           # twice: still one section
    text = card.read_text()
    assert text.count(card_script.VITTRACK_HEADING) == 1
    assert text.index('kept') < text.index(card_script.VITTRACK_HEADING) < \
        text.index('## Limits')
    row = next(ln for ln in text.splitlines() if ln.startswith('| pruned 3 -> 2 |'))
    assert '| 0.580 |' in row and '| 88 % |' in row and '| 1.25x |' in row
    assert '4 of 4' not in row and '0 of 4, -0.080' in row       # against VitTrack, per sequence


def test_without_reports_the_card_is_left_alone(card_script, tmp_path):
    card = tmp_path / 'models' / 'MODEL_CARD.md'
    card.write_text('# Model card\n')
    assert card_script._rewrite_vittrack(tmp_path / 'reports') == 1
    assert card.read_text() == '# Model card\n'


def test_the_occluder_section_reads_its_report(card_script, tmp_path):
    path = tmp_path / 'occluder.json'
    assert card_script._occluder(path) == []                       # no report, no section
    summary = {'student': {'auc': 0.61, 'mean_sequence_auc': 0.55, 'precision': 0.7,
                           'mean_iou': 0.6},
               'LightTrack-Mobile': {'auc': 0.65, 'precision': 0.75, 'mean_iou': 0.62}}
    path.write_text(json.dumps({'meta': {'hardware': 'test CPU', 'occluder': 0.2},
                                'summary': summary}))
    text = '\n'.join(card_script._occluder(path))
    assert 'over 20 % of its first box' in text and 'test CPU' in text
    assert '| student | 0.610 | 0.550 | 0.700 | 0.600 |' in text
    assert '| LightTrack-Mobile | 0.650 | nan |' in text
    path.write_text(json.dumps({'meta': {'occluder': 0.0}, 'summary': summary}))
    assert card_script._occluder(path) == []                       # another protocol's report
