"""The Docker-free local stack: template.yaml served by moto and an in-process API Gateway emulator."""
