"""Where the daily reports are kept: reports/<date>.json and reports/<date>.csv in the reports bucket."""

from typing import Any

from tolov.wiring import AwsClient

CONTENT_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8"}


class S3Reports:
    def __init__(self, bucket: str, client: Any | None = None) -> None:
        self.bucket = bucket
        self._s3 = AwsClient("s3", client)

    @staticmethod
    def key(day: str, fmt: str) -> str:
        return f"reports/{day}.{fmt}"

    def put(self, day: str, fmt: str, body: str) -> None:
        if not self.bucket:
            raise RuntimeError("REPORTS_BUCKET is not set")
        self._s3().put_object(
            Bucket=self.bucket, Key=self.key(day, fmt), Body=body.encode(), ContentType=CONTENT_TYPES[fmt]
        )

    def get(self, day: str, fmt: str) -> str | None:
        if not self.bucket:
            raise RuntimeError("REPORTS_BUCKET is not set")
        s3 = self._s3()
        try:
            reply = s3.get_object(Bucket=self.bucket, Key=self.key(day, fmt))
        except s3.exceptions.NoSuchKey:
            return None
        return str(reply["Body"].read().decode())
