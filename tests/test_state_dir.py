"""A training job resumes only checkpoints that its own settings began (corpora/provenance.claim_state_dir)."""
from corpora.provenance import claim_state_dir


def test_same_settings_keep_the_checkpoints_other_settings_start_over(tmp_path, capsys):
    state, data = tmp_path / "state", tmp_path / "train.jsonl"
    data.write_text('{"text": "a"}\n')
    claim_state_dir(state, {"lr": 1e-4}, inputs=[data])
    (state / "checkpoint-20").mkdir()
    claim_state_dir(state, {"lr": 1e-4}, inputs=[data])  # a killed job rerun: resume
    assert (state / "checkpoint-20").is_dir()
    claim_state_dir(state, {"lr": 2e-4}, inputs=[data])  # the config changed: start over
    assert not (state / "checkpoint-20").exists() and (state / "settings.json").is_file()
    assert "starting over" in capsys.readouterr().out
    (state / "checkpoint-20").mkdir()
    data.write_text('{"text": "b"}\n')  # the training data changed
    claim_state_dir(state, {"lr": 2e-4}, inputs=[data])
    assert not (state / "checkpoint-20").exists()


def test_a_state_folder_without_settings_is_not_resumed(tmp_path):
    state = tmp_path / "state"
    (state / "checkpoint-60").mkdir(parents=True)  # left by a version that did not record its settings
    claim_state_dir(state, {"lr": 1e-4})
    assert not (state / "checkpoint-60").exists()
    claim_state_dir(tmp_path / "fresh", {"lr": 1e-4})  # a new folder is created and claimed
    assert (tmp_path / "fresh" / "settings.json").is_file()
