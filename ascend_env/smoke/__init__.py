"""The inference smoke run (``python -m ascend_env smoke``): greedy 30 tokens from "I love Beijing, because".

Modules, one job each: :mod:`.safetensors_io` (read/write safetensors), :mod:`.spm_model` (SentencePiece
``tokenizer.model`` protobuf), :mod:`.vocab` (the tiny tokenizer's pieces), :mod:`.tokenizer` (encode/decode, with
or without the ``sentencepiece`` library), :mod:`.model_spec` (Llama shape from config.json), :mod:`.checkpoint`
(generate/check a Hugging Face layout directory), :mod:`.golden` (the golden ids and their check), :mod:`.devices`
(``--device auto`` rules and load diagnoses), :mod:`.runners` (one module per runner), :mod:`.metrics`,
:mod:`.run` (one run, start to end). Import-time dependencies: the standard library and numpy only (Python 3.8+);
each framework is imported by its runner.
"""
