"""Runs SIPVicious svcrack unchanged except for two things its command line promises but 0.3.8 drops.

1. The digest `uri` follows --requesturi. svcrack builds the Request-URI from --requesturi but always computes the digest over
`sip:<domain>` (its REGISTER habit). A server that checks the digest uri against the
Request-URI (RFC 2617 §3.2.2.5), as the media pod does, would then refuse even the right
password for the wrong reason, and the test would prove nothing.
2. -b (binding address) is parsed but never passed on, so svcrack binds every interface and its
packets come from 127.0.0.1 whatever -b says; tests need distinct loopback sources.

Everything else (challenge handling, nonce counting, the MD5 digest, the dictionary loop, the
result report) is svcrack's own.
"""
import sys

import sipvicious.svcrack as svcrack

_make_request = svcrack.makeRequest


def _make_request_with_digest_uri(method, fromaddr, toaddr, dsthost, port, *args, **kwargs):
    requesturi = kwargs.get("requesturi")
    if requesturi and requesturi.startswith("sip:"):
        # makeRequest uses dsthost only for `sip:<dsthost>`, the URI it signs and puts on the request line.
        dsthost = requesturi[len("sip:"):]
        kwargs["requesturi"] = None
    return _make_request(method, fromaddr, toaddr, dsthost, port, *args, **kwargs)


svcrack.makeRequest = _make_request_with_digest_uri


def _binding_ip(argv):
    for i, arg in enumerate(argv):
        if arg in ("-b", "--bindingip") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--bindingip="):
            return arg.split("=", 1)[1]
    return None


_init = svcrack.ASipOfRedWine.__init__
_bind = _binding_ip(sys.argv[1:])


def _init_with_binding(self, *args, **kwargs):
    if _bind:
        kwargs.setdefault("bindingip", _bind)
    _init(self, *args, **kwargs)


svcrack.ASipOfRedWine.__init__ = _init_with_binding

if __name__ == "__main__":
    sys.exit(svcrack.main())
