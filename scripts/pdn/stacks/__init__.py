"""Driving the Pulumi site stacks: Automation API runner, pinned CRDs, the S3 bucket provider."""
