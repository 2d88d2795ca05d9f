"""A fake LiveKit server: the Egress Twirp API the official `livekit-api` client calls, an "egress" that writes
a real MP4 (encoded with PyAV) into the S3 bucket it was given, and signed webhooks to the recorder.

What it follows (research/livekit.md, livekit-api 1.2.x):
- `POST /twirp/livekit.Egress/{StartRoomCompositeEgress,StopEgress,ListEgress}` with protobuf bodies
  (`application/protobuf`) or protobuf-JSON (`application/json`); answers in the same encoding; errors are Twirp
  JSON `{"code", "msg"}` with the matching HTTP status.
- `Authorization: Bearer <JWT>` signed HS256 with the API secret, `iss` = the API key, `video.roomRecord` true.
- Webhooks: `application/webhook+json` (protobuf JSON mapping) with `Authorization: <JWT>` whose `sha256` claim is
  the base64 SHA-256 of the exact body.
Scenario switches (per room name, set before the egress starts): lose a webhook, send one twice, send it late,
fail the egress with a message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import boto3
import jwt
import numpy as np
from botocore.config import Config
from google.protobuf.json_format import MessageToJson, Parse
from livekit.api.access_token import AccessToken
from livekit.protocol import egress as proto
from livekit.protocol.webhook import WebhookEvent

FAKE_API_KEY = "APIfakeKey"
FAKE_API_SECRET = "fake-livekit-secret-that-is-long-enough-0123456789"


@dataclass
class Scenario:
    lose: set[str] = field(default_factory=set)  # webhook events never sent, e.g. {"egress_ended"}
    duplicate: set[str] = field(default_factory=set)  # sent twice
    late: dict[str, float] = field(default_factory=dict)  # sent after this many seconds
    fail_with: str | None = None  # the egress fails at stop with this error
    start_delay: float = 0.2  # STARTING -> ACTIVE


@dataclass
class Egress:
    info: proto.EgressInfo
    output: proto.EncodedFileOutput
    scenario: Scenario
    started: float = 0.0


class FakeLiveKit:
    """`with FakeLiveKit(webhook_url=...) as lk:` then `LiveKitAPI(lk.url, FAKE_API_KEY, FAKE_API_SECRET)`."""

    def __init__(self, webhook_url: str | None = None, *, api_key: str = FAKE_API_KEY,
                 api_secret: str = FAKE_API_SECRET, max_seconds: float = 20.0) -> None:
        self.webhook_url = webhook_url
        self.api_key = api_key
        self.api_secret = api_secret
        self.max_seconds = max_seconds
        self.egresses: dict[str, Egress] = {}
        self.scenarios: dict[str, Scenario] = {}
        self.calls: list[tuple[str, int]] = []  # (method, HTTP status)
        self.webhooks_sent: list[tuple[str, int]] = []  # (event, receiver status)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._timers: list[threading.Timer] = []

    # -- life --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeLiveKit:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def scenario(self, room: str, **values: Any) -> Scenario:
        scenario = Scenario(**values)
        self.scenarios[room] = scenario
        return scenario

    # -- Twirp -------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        prefix = "/twirp/livekit.Egress/"
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length)
        method = request.path[len(prefix):] if request.path.startswith(prefix) else ""
        json_mode = (request.headers.get("Content-Type") or "").startswith("application/json")
        handlers = {"StartRoomCompositeEgress": (proto.RoomCompositeEgressRequest, self._start),
                    "StopEgress": (proto.StopEgressRequest, self._stop),
                    "ListEgress": (proto.ListEgressRequest, self._list)}
        if method not in handlers:
            self._error(request, method, 404, "bad_route", f"no handler for {request.path}")
            return
        if not self._authorized(request.headers.get("Authorization") or ""):
            self._error(request, method, 401, "unauthenticated", "invalid token")
            return
        message_class, handler = handlers[method]
        try:
            message = Parse(body, message_class()) if json_mode else message_class.FromString(body)
        except Exception:
            self._error(request, method, 400, "malformed", "could not decode the request body")
            return
        try:
            answer = handler(message)
        except LookupError as exc:
            self._error(request, method, 404, "not_found", str(exc))
            return
        except ValueError as exc:
            self._error(request, method, 412, "failed_precondition", str(exc))
            return
        payload = MessageToJson(answer).encode() if json_mode else answer.SerializeToString()
        with self._lock:
            self.calls.append((method, 200))
        request.send_response(200)
        request.send_header("Content-Type", "application/json" if json_mode else "application/protobuf")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def _error(self, request: BaseHTTPRequestHandler, method: str, status: int, code: str, msg: str) -> None:
        with self._lock:
            self.calls.append((method, status))
        payload = json.dumps({"code": code, "msg": msg}).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def _authorized(self, header: str) -> bool:
        if not header.startswith("Bearer "):
            return False
        try:
            claims = jwt.decode(header[7:], self.api_secret, algorithms=["HS256"], options={"verify_aud": False})
        except jwt.PyJWTError:
            return False
        return claims.get("iss") == self.api_key and bool((claims.get("video") or {}).get("roomRecord"))

    def _start(self, request: proto.RoomCompositeEgressRequest) -> proto.EgressInfo:
        if not request.room_name:
            raise ValueError("room_name is required")
        outputs = list(request.file_outputs) or ([request.file] if request.HasField("file") else [])
        if len(outputs) != 1 or not outputs[0].HasField("s3"):
            raise ValueError("exactly one file output with s3 upload is supported by this fake")
        egress_id = "EG_" + secrets.token_hex(6)
        now = time.time_ns()
        info = proto.EgressInfo(
            egress_id=egress_id, room_id="RM_" + request.room_name, room_name=request.room_name,
            status=proto.EgressStatus.EGRESS_STARTING, started_at=now, updated_at=now,
            room_composite=request,
        )
        scenario = self.scenarios.get(request.room_name, Scenario())
        egress = Egress(info=info, output=outputs[0], scenario=scenario)
        with self._lock:
            self.egresses[egress_id] = egress
        self._later(scenario.start_delay, self._activate, egress)
        return _copy(info)

    def _activate(self, egress: Egress) -> None:
        with self._lock:
            if egress.info.status != proto.EgressStatus.EGRESS_STARTING:
                return
            egress.info.status = proto.EgressStatus.EGRESS_ACTIVE
            egress.info.updated_at = time.time_ns()
            egress.started = time.monotonic()
        self._webhook("egress_started", egress)

    def _stop(self, request: proto.StopEgressRequest) -> proto.EgressInfo:
        with self._lock:
            egress = self.egresses.get(request.egress_id)
            if egress is None:
                raise LookupError(f"egress {request.egress_id} not found")
            if egress.info.status not in (proto.EgressStatus.EGRESS_STARTING, proto.EgressStatus.EGRESS_ACTIVE):
                raise ValueError(f"egress {request.egress_id} is not active")
            egress.info.status = proto.EgressStatus.EGRESS_ENDING
            egress.info.updated_at = time.time_ns()
            seconds = min(self.max_seconds, max(1.0, time.monotonic() - (egress.started or time.monotonic())))
            answer = _copy(egress.info)
        threading.Thread(target=self._finish, args=(egress, seconds), daemon=True).start()
        return answer

    def _finish(self, egress: Egress, seconds: float) -> None:
        scenario = egress.scenario
        if scenario.fail_with:
            with self._lock:
                egress.info.status = proto.EgressStatus.EGRESS_FAILED
                egress.info.error = scenario.fail_with
                egress.info.ended_at = egress.info.updated_at = time.time_ns()
            self._webhook("egress_ended", egress)
            return
        key = _render(egress.output.filepath, egress.info.room_name)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "egress.mp4"
            audio_only = egress.info.room_composite.audio_only
            make_mp4(path, seconds, audio_only=audio_only)
            s3 = egress.output.s3
            client = boto3.client(
                "s3", endpoint_url=s3.endpoint, aws_access_key_id=s3.access_key,
                aws_secret_access_key=s3.secret, region_name=s3.region or "us-east-1",
                config=Config(s3={"addressing_style": "path" if s3.force_path_style else "auto"}),
            )
            client.upload_file(str(path), s3.bucket, key)
            size = path.stat().st_size
        ended = time.time_ns()
        with self._lock:
            info = egress.info
            info.status = proto.EgressStatus.EGRESS_COMPLETE
            info.ended_at = info.updated_at = ended
            result = proto.FileInfo(
                filename=key, location=f"{s3.endpoint.rstrip('/')}/{s3.bucket}/{key}", size=size,
                duration=int(seconds * 1e9), started_at=info.started_at, ended_at=ended,
            )
            info.file_results.append(result)
        self._webhook("egress_ended", egress)

    def _list(self, request: proto.ListEgressRequest) -> proto.ListEgressResponse:
        with self._lock:
            items = [
                _copy(e.info) for e in self.egresses.values()
                if (not request.room_name or e.info.room_name == request.room_name)
                and (not request.egress_id or e.info.egress_id == request.egress_id)
                and (not request.active or e.info.status in (proto.EgressStatus.EGRESS_STARTING,
                                                              proto.EgressStatus.EGRESS_ACTIVE))
            ]
        return proto.ListEgressResponse(items=items)

    # -- webhooks ----------------------------------------------------------------------------

    def _webhook(self, event: str, egress: Egress) -> None:
        scenario = egress.scenario
        if event in scenario.lose or not self.webhook_url:
            with self._lock:
                self.webhooks_sent.append((event, 0))
            return
        with self._lock:
            info = _copy(egress.info)
        message = WebhookEvent(event=event, egress_info=info, id="EV_" + secrets.token_hex(6),
                               created_at=int(time.time()))
        body = MessageToJson(message)
        delay = scenario.late.get(event, 0.0)
        times = 2 if event in scenario.duplicate else 1
        for n in range(times):
            self._later(delay + n * 0.3, self._post, event, body)

    def signed_headers(self, body: str) -> dict[str, str]:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        token = AccessToken(self.api_key, self.api_secret).with_sha256(digest).to_jwt()
        return {"Content-Type": "application/webhook+json", "Authorization": token}

    def _post(self, event: str, body: str) -> None:
        import urllib.request

        assert self.webhook_url is not None
        request = urllib.request.Request(self.webhook_url, data=body.encode(), method="POST",
                                         headers=self.signed_headers(body))
        status = 0
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = -1
        with self._lock:
            self.webhooks_sent.append((event, status))

    def _later(self, delay: float, func: Any, *args: Any) -> None:
        if delay <= 0:
            threading.Thread(target=func, args=args, daemon=True).start()
            return
        timer = threading.Timer(delay, func, args)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()


def _copy(info: Any) -> Any:
    clone = type(info)()
    clone.CopyFrom(info)
    return clone


def _render(filepath: str, room: str) -> str:
    """LiveKit's filename templates that the recorder may use."""
    stamp = time.strftime("%Y-%m-%dT%H%M%S", time.gmtime())
    return (filepath or "{room_name}-{time}.mp4").replace("{room_name}", room).replace("{time}", stamp)


def make_mp4(path: Path, seconds: float, *, audio_only: bool = False, fps: int = 10) -> None:
    """A real H.264 + AAC MP4 of `seconds` (what a room composite would upload), small and quick to encode."""
    with av.open(str(path), "w", format="mp4") as out:
        video = None
        if not audio_only:
            video = out.add_stream("libx264", rate=fps)
            video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
            video.options = {"preset": "ultrafast", "g": str(fps)}
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "mono"  # type: ignore[attr-defined]
        frames = max(1, int(seconds * fps))
        if video is not None:
            for n in range(frames):
                image = np.full((240, 320, 3), (n * 7) % 255, dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = n
                frame.time_base = Fraction(1, fps)
                for packet in video.encode(frame):
                    out.mux(packet)
            for packet in video.encode():
                out.mux(packet)
        samples = int(seconds * 48000)
        for start in range(0, samples, 1024):
            count = min(1024, samples - start)
            tone = (0.1 * np.sin(2 * np.pi * 440 * (np.arange(start, start + count) / 48000))).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="fltp", layout="mono")
            frame.sample_rate = 48000
            frame.pts = start
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)


