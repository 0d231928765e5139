"""The multistore gateway as an AWS Lambda handler: ``multistore.aws_lambda.handler``."""

from multistore.aws_lambda.runtime import handler

__all__ = ["handler"]
