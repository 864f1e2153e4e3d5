"""A run folder as `resnet train --resume` reads it, packed as fuzz_run.cpp takes it:
[u32 LE len(config.json)][config.json][state.safetensors]. config.json as write_run_config writes it (the
TrainConfig keys and "dataset_info"), state.safetensors with model.*, optimizer.* and the u8 tensor run.json."""
import json
import struct

import numpy as np

from _safetensors import safetensors_bytes

CONFIG = {
    "arch": "resnet20", "dataset": "cifar10", "data": "data/cifar10", "stem": "cifar", "image_size": 0,
    "augment": True, "subset": 0, "test_subset": 0, "classes": [], "per_class": 0, "init_weights": "",
    "non_strict": False, "freeze": "", "lr_backbone": 0.1, "dropout": 0.0, "init": "", "epochs": 2,
    "batch_size": 8, "max_steps_per_epoch": 0, "optimizer": "sgd", "lr": 0.1, "wd": 0.0005, "momentum": 0.9,
    "nesterov": False, "bn_weight_decay": False, "schedule": "cosine", "warmup_epochs": 0,
    "label_smoothing": 0.0, "clip_grad_norm": 0.0, "precision": "f32", "seed": 0, "out": "runs/r",
    "threads": 0, "workers": 2,
}
DATASET_INFO = {"name": "cifar10", "class_names": ["airplane", "automobile"], "channels": 3, "image_size": 32,
                "mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}
SEGMENTATION = {"task": "segmentation", "arch": "unet-resnet18", "dataset": "fashion-mnist-scenes",
                "stem": "imagenet", "loss": "ce", "ignore_index": 255, "encoder_depth": 3,
                "decoder_channels": [64, 32, 16]}
METRICS = {"epoch": 1, "train_loss": 1.5, "train_acc": 0.4, "test_loss": 1.4, "test_acc": 0.45, "lr": 0.1,
           "seconds": 3.5}


def state_bytes(config, epochs_done=1, extra_run=None):
    history = [dict(METRICS, epoch=e + 1) for e in range(epochs_done)]
    run = {"format": "resnet.cpp training state", "version": 1, "epochs_done": epochs_done, "step": 10,
           "best_epoch": 1, "best_test_acc": 0.45, "rng": "none", "history": history, "config": config}
    run.update(extra_run or {})
    tensors = {"model.conv1.weight": np.ones((2, 3, 1, 1), np.float32),
               "model.bn1.num_batches_tracked": np.array(3, np.int64),
               "optimizer.momentum_buffer.conv1.weight": np.zeros((2, 3, 1, 1), np.float32),
               "run.json": np.frombuffer(json.dumps(run).encode(), np.uint8)}
    return safetensors_bytes(tensors, {"format": "resnet.cpp training state"})


def pack(config_text, state):
    config_text = config_text.encode()
    return struct.pack("<I", len(config_text)) + config_text + state


def seeds():
    segmentation = dict(CONFIG, **SEGMENTATION)
    seg_metrics = dict(METRICS, test_miou=0.3, class_iou=[0.2, 0.4])
    return {
        "classification": pack(json.dumps(dict(CONFIG, dataset_info=DATASET_INFO), indent=2), state_bytes(CONFIG)),
        "no_dataset_info": pack(json.dumps(CONFIG), state_bytes(CONFIG, epochs_done=2)),
        "segmentation": pack(json.dumps(dict(segmentation, dataset_info=DATASET_INFO)),
                             state_bytes(segmentation, extra_run={"history": [seg_metrics],
                                                                  "best_test_miou": 0.3})),
        "epochs_mismatch": pack(json.dumps(CONFIG), state_bytes(CONFIG, extra_run={"epochs_done": 3})),
        "not_json": pack("{\"arch\": ", b""),
    }
