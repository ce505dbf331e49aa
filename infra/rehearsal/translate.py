"""Translates template.yaml into the CloudFormation template `sam deploy` would create.

    translate.py TEMPLATE [NAME=VALUE ...]    → the CloudFormation template as JSON on stdout

The translation is the SAM CLI's own (`sam validate` runs the same code): the SAM translator
that ships inside aws-sam-cli, with local `CodeUri`s replaced by placeholder S3 locations as
`sam validate` does. NAME=VALUE pairs are parameter overrides (`Architecture=x86_64`). Named
managed policies cannot be looked up offline: a template that uses one fails here, by name.
"""

import json
import sys


class OfflinePolicies:
    """The managed-policy map the translator asks for only when `Policies` names a policy."""

    def load(self):
        raise SystemExit(
            "template.yaml names an AWS managed policy in Policies; the rehearsal cannot look it "
            "up offline (write its ARN, or its statements, instead)"
        )


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    from samcli.lib.translate.sam_template_validator import SamTemplateValidator
    from samcli.yamlhelper import yaml_parse

    overrides = {}
    for pair in sys.argv[2:]:
        name, _, value = pair.partition("=")
        overrides[name] = value
    with open(sys.argv[1], encoding="utf-8") as source:
        template = yaml_parse(source.read())
    validator = SamTemplateValidator(
        template,
        OfflinePolicies(),
        profile=None,
        region="us-east-1",
        parameter_overrides=overrides,
    )
    translated = yaml_parse(validator.get_translated_template_if_valid())
    json.dump(translated, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
