# track_core + track_node. `make test` and `make demo` set everything up first.
SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
ENV := source $(ROOT)/env.sh
# A private DDS domain per run keeps parallel test runs on one machine apart.
TEST_DOMAIN ?= $(shell echo $$(( $$$$ % 100 + 100 )))
PYTEST_ARGS ?=

.PHONY: setup test test-jazzy gpu-check lint demo bench train-student ship eval card \
    train-vittrack eval-vittrack clean distclean help

help:
	@echo 'make setup   - venv + torch + ROS 2 + colcon workspace (idempotent), writes env.sh'
	@echo 'make test    - setup, lint, core tests and ROS package tests'
	@echo 'make test-jazzy - the same on ROS 2 Jazzy (the LTS), in its own venv (.venv-jazzy)'
	@echo 'make gpu-check - prove the CUDA paths (parity, training steps, node, speed) in minutes'
	@echo 'make demo    - setup, then track a real video with the shipped model'
	@echo 'make bench   - the shipped model beside its baselines, alternating processes (BENCH_ARGS=--variants: the variant list)'
	@echo 'make eval    - one-pass evaluation of the shipped models and baselines on dev'
	@echo 'make card    - rewrite models/MODEL_CARD.md from the reports of make eval'
	@echo 'make train-student / ship - reproduce the shipped default model'
	@echo 'make train-vittrack / eval-vittrack - VitTrack imported, its compressed students, their figures'
	@echo 'make clean   - remove the colcon build and test outputs (keeps .venv)'

setup:
	@bash $(ROOT)/scripts/setup.sh

lint: setup
	@$(ENV) && cd $(ROOT) && echo '[lint] flake8 (ament rules: 99 columns, single quotes, pep257)' \
	    && flake8 src test scripts ros2_ws/src && echo '[lint] clean'

test: setup lint
	@$(ENV) && cd $(ROOT) && export ROS_DOMAIN_ID=$(TEST_DOMAIN) \
	    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_LOCALHOST_ONLY=1 \
	    && echo "[test] ROS_DOMAIN_ID=$$ROS_DOMAIN_ID, discovery on localhost" \
	    && { ! command -v fastdds >/dev/null || fastdds shm clean >/dev/null 2>&1 || true; } \
	    && python -m pytest -q test ros2_ws/src/track_node/test $(PYTEST_ARGS)

# The same tests on Jazzy, the LTS most robots move to: its own venv, workspace build and
# env-jazzy.sh, made from a clean environment so the default one is neither used nor touched.
CLEAN_ENV := env -i HOME="$$HOME" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    TORCH_SPEC="$${TORCH_SPEC:-}" TMPDIR="$${TMPDIR:-/tmp}"
test-jazzy:
	@$(CLEAN_ENV) ROS_DISTRO=jazzy TRACK_ENV=jazzy bash $(ROOT)/scripts/setup.sh
	@$(CLEAN_ENV) bash -c 'source $(ROOT)/env-jazzy.sh && cd $(ROOT) \
	    && flake8 src test scripts ros2_ws/src && echo "[lint] clean" \
	    && export ROS_DOMAIN_ID=$(TEST_DOMAIN) ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST \
	    && echo "[test-jazzy] ROS $$ROS_DISTRO, ROS_DOMAIN_ID=$$ROS_DOMAIN_ID" \
	    && { ! command -v fastdds >/dev/null || fastdds shm clean >/dev/null 2>&1 || true; } \
	    && python -m pytest -q test ros2_ws/src/track_node/test $(PYTEST_ARGS)'

# The main job on the shipped default model: a real video through image_source -> track_node,
# target set through ~/set_target, annotated video + summary in demo_out/.
demo: setup
	@bash $(ROOT)/scripts/demo.sh

# The CUDA paths, from the repository alone (exits 2 with "no CUDA device" where there is none).
gpu-check: setup
	@$(ENV) && cd $(ROOT) && PYTHONUNBUFFERED=1 python scripts/gpu_check.py

bench: setup
	@$(ENV) && cd $(ROOT) && python -m track_core.eval.bench $(BENCH_ARGS)

# Reproduce the shipped default (each recipe resumable: rerun after a stop). Needs
# ../shared/data and the lighttrack extra (pip install -e '.[lighttrack]').
train-student: setup
	@$(ENV) && cd $(ROOT) && track-train teacher config/train/lighttrack_to_nt3_ban2.yaml
	@$(ENV) && cd $(ROOT) && track-train score config/train/score_nt3_ban2.yaml

ship: setup
	@$(ENV) && cd $(ROOT) && python scripts/ship_models.py

# The model card's dev figures (needs ../shared/data or TRACK_DATA_ROOT).
eval: setup
	@$(ENV) && cd $(ROOT) && { python -c 'import openvino' 2>/dev/null || { echo \
	    '[eval] installing the lighttrack extra (openvino) for the LightTrack-Mobile baseline' \
	    && pip install -q -e '.[lighttrack]'; }; }
	@$(ENV) && cd $(ROOT) && track-eval run --data '$${data}/sot/dev' \
	    --model student=models/default.safetensors \
	    --baselines csrt nanotrack kcf nanotrack_v3 lighttrack vittrack --out reports/dev
	@$(ENV) && cd $(ROOT) && track-eval run --data '$${data}/sot/dev' \
	    --model student=models/default.safetensors --cut-away 30 --out reports/cutaway
	@$(ENV) && cd $(ROOT) && track-eval run --data '$${data}/sot/dev' \
	    --model student=models/default.safetensors --leave-return 30 \
	    --baselines vittrack nanotrack nanotrack_v3 lighttrack --out reports/longterm
	@$(ENV) && cd $(ROOT) && track-eval run --data '$${data}/sot/dev' \
	    --model student=models/default.safetensors --leave-return 60 \
	    --baselines vittrack nanotrack nanotrack_v3 lighttrack --out reports/longterm60
	@$(ENV) && cd $(ROOT) && track-eval run --data '$${data}/sot/dev' \
	    --model student=models/default.safetensors --leave-return 30 \
	    --look-alike config/eval/dev_kinds.yaml \
	    --baselines vittrack nanotrack nanotrack_v3 lighttrack --out reports/lookalike
	@$(ENV) && cd $(ROOT) && track-eval run --data '$${data}/sot/dev' \
	    --model student=models/default.safetensors --distractor config/eval/dev_kinds.yaml \
	    --baselines nanotrack_v3 lighttrack vittrack --out reports/distractor
	@$(ENV) && cd $(ROOT) && track-eval run --data '$${data}/sot/dev' \
	    --model student=models/default.safetensors --occluder 0.2 \
	    --baselines nanotrack_v3 lighttrack --out reports/occluder
	@$(ENV) && cd $(ROOT) && track-eval run --data '$${data}/sot/dev' \
	    --model student=models/default.safetensors --small-target 16 \
	    --baselines csrt nanotrack kcf nanotrack_v3 lighttrack vittrack --out reports/small
	@$(ENV) && cd $(ROOT) && track-eval run --data '$${data}/sot/dev' \
	    --model student=models/default.safetensors --small-target 16 --jpeg 40 \
	    --baselines csrt nanotrack kcf nanotrack_v3 lighttrack vittrack --out reports/small_jpeg
	@$(ENV) && cd $(ROOT) && track-eval scale --data '$${data}/sot/dev' \
	    --model student=models/default.safetensors --baselines nanotrack_v3 lighttrack \
	    --out reports/scale
	@$(ENV) && cd $(ROOT) && track-eval scale --data '$${data}/sot/dev' \
	    --model student=models/default.safetensors --baselines nanotrack_v3 lighttrack \
	    --small-target 12 --jpeg 40 --out reports/scale_small_jpeg

# VitTrack (imported from ../shared/data) and its students (issue 24): train what is missing
# (about 20 min here), then the figures of the model card's VitTrack section (reports/vittrack*;
# python scripts/model_card.py --vittrack-only writes it).
train-vittrack: setup
	@$(ENV) && cd $(ROOT) && python scripts/vittrack_family.py train

eval-vittrack: setup
	@$(ENV) && cd $(ROOT) && python scripts/vittrack_family.py eval

# Regenerate models/MODEL_CARD.md from make eval's reports (git diff shows what moved).
card: setup
	@$(ENV) && cd $(ROOT) && python scripts/model_card.py

clean:
	rm -rf ros2_ws/build ros2_ws/log .pytest_cache .setup/done

distclean: clean
	rm -rf .venv .setup ros2_ws/install env.sh .venv-* .setup-* ros2_ws/build-* \
	    ros2_ws/install-* ros2_ws/log-* env-*.sh
