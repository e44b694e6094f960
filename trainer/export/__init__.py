"""Export: a model dir to GGUF files (merged or LoRA, quantized), checked against transformers, and an Ollama
Modelfile."""
