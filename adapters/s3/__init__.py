"""S3 API adapter: boto3, the aws CLI, s3fs and the CRT read (and write) an S3 upstream through the cache."""

from adapters.s3.routes import S3_FRONTEND, S3Frontend, S3Options

__all__ = ["S3_FRONTEND", "S3Frontend", "S3Options"]
