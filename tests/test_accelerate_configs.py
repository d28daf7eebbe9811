"""config/accelerate/: the launch configs load, agree with the files the training config names,
and TrainingConfig's multi-GPU fields reach transformers' TrainingArguments (no GPU needed)."""
import json
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
FOLDER = REPO / "config" / "accelerate"


def test_launch_configs_load_with_accelerate():
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    assert load_config_from_file(str(FOLDER / "fsdp.yaml")).distributed_type == DistributedType.FSDP
    assert load_config_from_file(str(FOLDER / "deepspeed_zero3.yaml")).distributed_type == DistributedType.DEEPSPEED


def test_fsdp_launch_config_equals_the_training_configs_fsdp_config():
    launch = yaml.safe_load((FOLDER / "fsdp.yaml").read_text())
    assert launch["fsdp_config"] == json.loads((FOLDER / "fsdp_config.json").read_text())
    assert launch["fsdp_config"]["fsdp_state_dict_type"] == "FULL_STATE_DICT"  # the final save is a plain HF folder


def test_deepspeed_launch_config_points_at_the_zero3_json():
    launch = yaml.safe_load((FOLDER / "deepspeed_zero3.yaml").read_text())
    assert launch["deepspeed_config"]["deepspeed_config_file"] == "config/accelerate/deepspeed_zero3.json"
    zero = json.loads((FOLDER / "deepspeed_zero3.json").read_text())["zero_optimization"]
    assert zero["stage"] == 3 and zero["stage3_gather_16bit_weights_on_model_save"] is True


def test_training_config_switches_trainer_to_fsdp(tmp_path):
    import torch

    from methods._trainer import TrainingConfig, training_arguments

    config = TrainingConfig.from_dict({"fsdp": True, "fsdp_config": str(FOLDER / "fsdp_config.json")})
    plugin = training_arguments(config, tmp_path, 0, torch.float32, "cpu").fsdp_plugin_args
    assert plugin["fsdp_version"] == 2
    assert plugin["auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert plugin["state_dict_type"] == "FULL_STATE_DICT"
    assert training_arguments(TrainingConfig(), tmp_path, 0, torch.float32, "cpu").fsdp_plugin_args is None
