"""template.yaml: routes, configuration and least privilege per function; sam validate, cfn-lint, sam build."""
