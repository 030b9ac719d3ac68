"""The Docker-free local stack: moto in server mode and the template's API routes served in-process."""
