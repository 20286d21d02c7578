"""Alert rules: rule files (model, loader, templates, `logwarden rules check`) and their evaluation (engine).

The package itself imports nothing, so `logwarden --help` stays fast; importing `rules.model` registers every
rule type (`rules.types`), which completes the rule file models.
"""
