"""template.yaml: routes, configuration and least privilege per function and the SAM checks."""
