// @ts-check
/**
 * One WebRTC call between the officer and the client, over a SignalingClient.
 *
 * "Perfect negotiation" (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example):
 * either side may renegotiate at any time (audio-only mode, camera switch, ICE
 * restart); on offer glare the polite side (the client) rolls back and the
 * impolite side (the officer) ignores the colliding offer.
 *
 * No DOM access here either: the page gives us a MediaStream and listens for
 * events: "remote-stream" ({stream}), "ice-state" ({state}), "quality"
 * ({level, rttMs, lossPct, kbps}), "local-stream" ({stream}) after a camera change,
 * "remote-video" ({sending}) when the other side starts or stops sending video.
 */

/** @typedef {import("./signaling.js").SignalingClient} SignalingClient */

/** Audio bitrate in "hemat kuota" mode: Opus stays intelligible at 24 kbit/s. */
export const LOW_AUDIO_BITRATE = 24000;
/** Video ceiling in normal mode: enough for a face on a phone, kind to mobile data. */
export const NORMAL_VIDEO_BITRATE = 600000;

/**
 * Grade a connection from measured figures.
 * @param {{rttMs: number | null, lossPct: number | null}} m
 * @returns {"good" | "fair" | "poor" | "unknown"}
 */
export function gradeQuality({ rttMs, lossPct }) {
  if (rttMs == null && lossPct == null) return "unknown";
  const rtt = rttMs ?? 0;
  const loss = lossPct ?? 0;
  if (rtt < 300 && loss < 2) return "good";
  if (rtt < 700 && loss < 8) return "fair";
  return "poor";
}

export class Call extends EventTarget {
  /**
   * @param {{signaling: SignalingClient, polite: boolean, iceServers?: RTCIceServer[],
   *          localStream?: MediaStream | null, audioOnly?: boolean}} options
   */
  constructor({ signaling, polite, iceServers = [], localStream = null, audioOnly = false }) {
    super();
    this.signaling = signaling;
    this.polite = polite;
    this.localStream = localStream;
    this.audioOnly = audioOnly;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswerPending = false;
    this.closed = false;
    this.facingMode = "user";
    /** Queue so that each signaling message is handled after the previous one (PITFALL 5). */
    this.queue = Promise.resolve();
    /** @type {ReturnType<typeof setInterval> | null} */
    this.statsTimer = null;
    /** @type {{at: number, bytes: number, lost: number, received: number} | null} */
    this.lastStats = null;
    /** @type {MediaStream} */
    this.remoteStream = new MediaStream();
    /** Whether the other side sends video, as last negotiated (null: not yet known). @type {boolean | null} */
    this.remoteVideo = null;

    // An explicit list, empty when none is configured: no public STUN sneaks in.
    this.pc = new RTCPeerConnection({ iceServers });
    this._wire();
    if (localStream) {
      for (const track of localStream.getTracks()) this.pc.addTrack(track, localStream);
    }
    // The impolite side (officer) makes sure its offer asks for both kinds even
    // when it sends neither (no camera, permission denied). The polite side adds
    // none: addTransceiver() lines are never reused by a remote offer (JSEP), so
    // they would only add extra m-lines after a glare.
    if (!polite) {
      const kinds = new Set(this.pc.getTransceivers().map((t) => t.receiver.track.kind));
      for (const kind of ["audio", "video"]) {
        if (!kinds.has(kind)) this.pc.addTransceiver(kind, { direction: "recvonly" });
      }
    }
    this._onSignal = this._onSignal.bind(this);
    for (const type of ["offer", "answer", "candidate"]) signaling.addEventListener(type, this._onSignal);
    if (audioOnly) this.setAudioOnly(true);
    this.statsTimer = setInterval(() => this._sampleStats(), 2000);
  }

  _wire() {
    const pc = this.pc;
    pc.onnegotiationneeded = async () => {
      // The polite side lets the officer's first offer set the call up and only
      // renegotiates after that (the event fires again once the state is stable
      // if anything is left to negotiate). A glare on the very first exchange is
      // resolved by perfect negotiation in theory, but Chromium sometimes then
      // gathers no candidates for the answer and ICE never leaves "new".
      if (this.polite && !pc.remoteDescription) return;
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        if (pc.localDescription) this.signaling.send({ type: pc.localDescription.type, sdp: pc.localDescription.sdp });
      } catch (err) {
        console.warn("negotiation failed", err);
      } finally {
        this.makingOffer = false;
      }
    };
    pc.onicecandidate = ({ candidate }) => {
      this.signaling.send({ type: "candidate", candidate: candidate ? candidate.toJSON() : null });
    };
    pc.oniceconnectionstatechange = () => {
      const state = pc.iceConnectionState;
      this.signaling.send({ type: "media-state", state });
      this._emit("ice-state", { state });
      // ICE failed (a network change, NAT rebinding): gather fresh candidates.
      // restartIce() triggers negotiationneeded; perfect negotiation does the rest.
      if (state === "failed") pc.restartIce();
    };
    // Does the other side send video? Read from the negotiated direction of our
    // video transceiver each time an offer/answer exchange completes: audio-only
    // ("hemat kuota", or no camera) makes the other side answer or offer video
    // without "send", so ours has no "recv". This is the SDP both sides agreed,
    // so it needs no extra signaling message (and works with any client), it is
    // known before the first frame, and it does not flicker on a slow network
    // the way track mute/unmute or a stalled framesDecoded counter can.
    pc.onsignalingstatechange = () => {
      if (pc.signalingState !== "stable") return;
      const video = this._transceiver("video");
      const direction = video && video.currentDirection;
      if (!direction || direction === "stopped") return;
      const sending = direction === "sendrecv" || direction === "recvonly";
      if (sending === this.remoteVideo) return;
      this.remoteVideo = sending;
      this._emit("remote-video", { sending });
    };
    pc.ontrack = ({ track, streams }) => {
      const stream = streams[0];
      if (stream) {
        this.remoteStream = stream;
      } else if (!this.remoteStream.getTracks().includes(track)) {
        this.remoteStream.addTrack(track);
      }
      this._emit("remote-stream", { stream: this.remoteStream });
    };
  }

  /** @param {Event} event */
  _onSignal(event) {
    const message = /** @type {CustomEvent} */ (event).detail;
    this.queue = this.queue.then(() => this._handle(message)).catch((err) => console.warn("signal", err));
  }

  /** @param {any} message */
  async _handle(message) {
    if (this.closed) return;
    const pc = this.pc;
    if (message.type === "candidate") {
      try {
        await pc.addIceCandidate(message.candidate || undefined);
      } catch (err) {
        // A candidate for an offer we ignored is expected to fail.
        if (!this.ignoreOffer) console.warn("candidate", err);
      }
      return;
    }
    const description = { type: message.type, sdp: message.sdp };
    // handle offer or answer
    const readyForOffer = !this.makingOffer && (pc.signalingState === "stable" || this.settingRemoteAnswerPending);
    const offerCollision = description.type === "offer" && !readyForOffer;
    this.ignoreOffer = !this.polite && offerCollision;
    if (this.ignoreOffer) return;
    this.settingRemoteAnswerPending = description.type === "answer";
    await pc.setRemoteDescription(description);
    this.settingRemoteAnswerPending = false;
    if (description.type === "offer") {
      // In audio-only mode refuse video in the answer too, so nobody sends it.
      if (this.audioOnly) {
        for (const t of pc.getTransceivers()) {
          if (t.receiver.track.kind === "video" && !t.sender.track && t.direction !== "inactive") t.direction = "inactive";
        }
      }
      // send answer
      await pc.setLocalDescription();
      if (pc.localDescription) this.signaling.send({ type: "answer", sdp: pc.localDescription.sdp });
    }
  }

  /** Kick off an ICE restart by hand (e.g. after the browser reports `online`). */
  restartIce() {
    if (!this.closed) this.pc.restartIce();
  }

  /** @param {string} kind */
  _transceiver(kind) {
    return this.pc.getTransceivers().find((t) => t.receiver.track.kind === kind) || null;
  }

  /** @param {boolean} muted */
  setMuted(muted) {
    for (const track of this.localStream ? this.localStream.getAudioTracks() : []) track.enabled = !muted;
  }

  /** Camera off keeps the video m-line: the other side sees black, we can resume at once. */
  /** @param {boolean} off */
  setCameraOff(off) {
    for (const track of this.localStream ? this.localStream.getVideoTracks() : []) track.enabled = !off;
  }

  /**
   * "Hemat kuota": stop the camera, stop receiving video (the transceiver goes
   * inactive, so the other side stops sending after renegotiation), and cap the
   * audio bitrate. Turning it off asks for the camera again.
   * @param {boolean} on
   */
  async setAudioOnly(on) {
    this.audioOnly = on;
    const video = this._transceiver("video");
    const audio = this._transceiver("audio");
    if (on) {
      if (video) {
        const old = video.sender.track;
        await video.sender.replaceTrack(null);
        if (old) {
          old.stop();
          this.localStream?.removeTrack(old);
        }
        video.direction = "inactive";
      }
    } else if (video) {
      let track = null;
      try {
        const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: this.facingMode } });
        track = stream.getVideoTracks()[0];
      } catch (err) {
        console.warn("camera", err);
      }
      if (track) {
        await video.sender.replaceTrack(track);
        if (!this.localStream) this.localStream = new MediaStream();
        this.localStream.addTrack(track);
        video.sender.setStreams?.(this.localStream);
        video.direction = "sendrecv";
        this._emit("local-stream", { stream: this.localStream });
      } else {
        video.direction = "recvonly";
      }
    }
    if (audio) await this._capBitrate(audio.sender, on ? LOW_AUDIO_BITRATE : null);
    if (video && !on) await this._capBitrate(video.sender, NORMAL_VIDEO_BITRATE);
  }

  /** @param {RTCRtpSender} sender @param {number | null} maxBitrate */
  async _capBitrate(sender, maxBitrate) {
    try {
      const params = sender.getParameters();
      if (!params.encodings || !params.encodings.length) return; // not negotiated yet
      for (const enc of params.encodings) {
        if (maxBitrate) enc.maxBitrate = maxBitrate;
        else delete enc.maxBitrate;
      }
      await sender.setParameters(params);
    } catch (err) {
      console.warn("bitrate", err);
    }
  }

  /** Switch between the front and the back camera (facingMode), without renegotiation. */
  async switchCamera() {
    const video = this._transceiver("video");
    if (!video || this.audioOnly) return;
    const next = this.facingMode === "user" ? "environment" : "user";
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: next } });
    const track = stream.getVideoTracks()[0];
    const old = video.sender.track;
    await video.sender.replaceTrack(track);
    if (old) {
      old.stop();
      this.localStream?.removeTrack(old);
    }
    if (!this.localStream) this.localStream = new MediaStream();
    this.localStream.addTrack(track);
    this.facingMode = next;
    this._emit("local-stream", { stream: this.localStream });
  }

  async _sampleStats() {
    if (this.closed) return;
    let report;
    try {
      report = await this.pc.getStats();
    } catch {
      return;
    }
    let rttMs = null;
    let bytes = 0;
    let lost = 0;
    let received = 0;
    /** What we received, per kind: the server counts the call's time only while both sides' rise. */
    const inbound = /** @type {Record<string, {packets: number, bytes: number}>} */ ({});
    report.forEach((s) => {
      if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded" && s.currentRoundTripTime != null) {
        rttMs = Math.round(s.currentRoundTripTime * 1000);
      }
      if (s.type === "inbound-rtp") {
        const kind = s.kind === "video" ? "video" : "audio";
        inbound[kind] = inbound[kind] || { packets: 0, bytes: 0 };
        inbound[kind].packets += s.packetsReceived || 0;
        inbound[kind].bytes += s.bytesReceived || 0;
        bytes += s.bytesReceived || 0;
        lost += Math.max(0, s.packetsLost || 0);
        received += s.packetsReceived || 0;
      }
    });
    const now = Date.now();
    let lossPct = null;
    let kbps = null;
    if (this.lastStats) {
      const dLost = lost - this.lastStats.lost;
      const dRecv = received - this.lastStats.received;
      lossPct = dLost + dRecv > 0 ? (100 * dLost) / (dLost + dRecv) : null;
      kbps = Math.round(((bytes - this.lastStats.bytes) * 8) / Math.max(1, now - this.lastStats.at));
    }
    this.lastStats = { at: now, bytes, lost, received };
    const connected = this.pc.iceConnectionState === "connected" || this.pc.iceConnectionState === "completed";
    // The heartbeat with our inbound counters (docs/signaling.md, "ping"): the server's evidence of media.
    if (connected) this.signaling.send({ type: "ping", inbound });
    const level = connected ? gradeQuality({ rttMs, lossPct }) : "unknown";
    this._emit("quality", { level, rttMs, lossPct, kbps });
  }

  /** Close the peer connection; the signaling client stays (it may rejoin). */
  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.statsTimer) clearInterval(this.statsTimer);
    for (const type of ["offer", "answer", "candidate"]) this.signaling.removeEventListener(type, this._onSignal);
    try { this.pc.close(); } catch { /* ignore */ }
    this.signaling.send({ type: "media-state", state: "closed" });
    this._emit("ice-state", { state: "closed" });
  }

  /** @param {string} type @param {any} detail */
  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
