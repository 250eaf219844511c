"""t4's own SigV4 signer (``t4.backends.sigv4``, what the listing signs with) against AWS's
published SigV4 test vectors (the ``aws-sig-v4-test-suite``: credentials ``AKIDEXAMPLE``,
2015-08-30T12:36:00Z, us-east-1, service ``service``), S3's documented ListObjects example,
and botocore's own S3 signer on the listing requests t4 sends (odd keys and prefixes)."""

from __future__ import annotations

import hashlib

import pytest

from t4.backends.sigv4 import EMPTY_SHA256, authorization, canonical_query, canonical_request

SUITE_KEYS = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SUITE_HEADERS = {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"}

#: name: (method, path, query, extra headers, body, the published signature)
VECTORS = {
    "get-vanilla": ("GET", "/", [], {}, b"",
                    "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    "get-vanilla-query-order-key-case": (
        "GET", "/", [("Param2", "value2"), ("Param1", "value1")], {}, b"",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    "get-vanilla-query-order-value": (
        "GET", "/", [("Param1", "value2"), ("Param1", "value1")], {}, b"",
        "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"),
    "get-vanilla-utf8-query": (
        "GET", "/", [("\u1234", "bar")], {}, b"",
        "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
    "get-unreserved": (
        "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", [], {},
        b"", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
    "get-header-value-trim": (
        "GET", "/", [], {"My-Header1": " value1", "My-Header2": '"a   b   c"'}, b"",
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
    "post-x-www-form-urlencoded": (
        "POST", "/", [], {"Content-Type": "application/x-www-form-urlencoded"},
        b"Param1=value1", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_the_published_vectors(name: str) -> None:
    method, path, query, extra, body, signature = VECTORS[name]
    headers = {**SUITE_HEADERS, **extra}
    signed = ";".join(sorted(k.lower() for k in headers))
    got = authorization(
        method, path, query, headers, hashlib.sha256(body).hexdigest(), SUITE_KEYS,
        "us-east-1", "service",
    )  # fmt: skip
    assert got == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders={signed}, Signature={signature}"
    )


def test_the_s3_documentation_list_objects_example() -> None:
    """S3's "Example: GET Bucket (List Objects)" of sig-v4-header-based-auth."""
    headers = {
        "host": "examplebucket.s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-content-sha256": EMPTY_SHA256,
    }
    keys = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    got = authorization(
        "GET", "/", [("max-keys", "2"), ("prefix", "J")], headers, EMPTY_SHA256, keys, "us-east-1"
    )
    assert got.endswith(
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
        "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
    )


@pytest.mark.parametrize(
    "prefix", ["", "a/", "..", "./x", "//", "sp ace/", "plus+sign", "ünï/cødé", "q?x=1&y=%41"]
)
@pytest.mark.parametrize("token", [None, "FQoG//session+token="])
def test_botocore_signs_t4s_listing_requests_alike(prefix: str, token: str | None) -> None:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    params = [("list-type", "2"), ("encoding-type", "url"), ("prefix", prefix),
              ("continuation-token", "1/abc+def==")]  # fmt: skip
    headers = {"host": "127.0.0.1:9000", "x-amz-date": "20261206T120000Z",
               "x-amz-content-sha256": EMPTY_SHA256}  # fmt: skip
    if token:
        headers["x-amz-security-token"] = token
    ours = authorization(
        "GET", "/my.bucket", params, headers, EMPTY_SHA256, ("AK", "SK"), "eu-west-3"
    )
    request = AWSRequest(
        "GET", f"http://127.0.0.1:9000/my.bucket?{canonical_query(params)}", headers=dict(headers)
    )
    request.context["timestamp"] = "20261206T120000Z"  # add_auth would take the clock's
    signer = S3SigV4Auth(Credentials("AK", "SK", token), "s3", "eu-west-3")
    theirs = signer.canonical_request(request)
    assert canonical_request("GET", "/my.bucket", params, headers, EMPTY_SHA256)[0] == theirs
    signature = signer.signature(signer.string_to_sign(request, theirs), request)
    assert ours.endswith(f"Signature={signature}")
