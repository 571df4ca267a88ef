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
 * ({level, rttMs, lossPct, jitterMs, availableKbps, kbps}), "local-stream" ({stream})
 * after a camera change, "remote-video" ({sending}) when the other side starts or
 * stops sending video, "step" ({step, mine, peer}) when the automatic steps of
 * reach.js change what the call sends.
 *
 * With reach on (the default), an ICE "disconnected" is reported to the server
 * (media-state) only when the media has really stopped: ICE still not
 * connected after HICCUP_MS and no packet received for STALL_MS. A hiccup on a
 * lossy link is not a disconnection of the session (issue #11).
 *
 * A change of network (Wi-Fi to mobile data: a new address) kills the ICE path
 * and, silently, the signaling socket. Whichever side sees ICE leave
 * `connected` asks its socket whether it is alive (`checkAlive`); a dead one
 * reconnects with `resume`, so the server gives the client its place back
 * without the waiting room and tells the officer `peer-resumed`. ICE restarts
 * are made by the officer only (impolite: its offer wins any glare anyway): on
 * `failed`, on a confirmed stall, on the client's `peer-resumed` and after its
 * own socket was resumed (the officer moves too), when an offer it sent into
 * the dead socket is sent again. Either page calls `resync()` after its own
 * socket was resumed, since what it said on the dead one may be lost.
 */

import { gradeQuality, HICCUP_MS, leaner, LOW_VIDEO, STALL_MS, StepPolicy, TIGHT_AUDIO_BITRATE, TIGHT_PTIME, tuneOpus } from "./reach.js";

/** @typedef {import("./signaling.js").SignalingClient} SignalingClient */
/** @typedef {import("./reach.js").Step} Step */

/** Audio bitrate in "hemat kuota" mode: Opus stays intelligible at 24 kbit/s. */
export const LOW_AUDIO_BITRATE = 24000;
/** Video ceiling in normal mode: enough for a face on a phone, kind to mobile data. */
export const NORMAL_VIDEO_BITRATE = 600000;

export { gradeQuality };

/**
 * A roomy start (20 ms packets, issue 25) is for the first words: the impolite
 * side leaves it once it has received this many of the other side's packets
 * (the measure of being heard: a second of sound in them), and the
 * other side's arrive in the same second. Soon, since the page's measure of
 * the link can overshoot: 38 kbit/s read on a 32 kbit/s link on a loaded
 * machine, where 20 ms packets filled the link within seconds and a quarter of
 * the sound was concealed each way for as long as the call lasted. The offer
 * that ends it waits behind them once the link is full (5-8 s, sent 3 s after
 * the first packets), so it goes as soon as the first words allow.
 */
export const FIRST_WORDS_PACKETS = 50;
/** ...or this long after its first packet, when loss or a filling queue holds them back... */
export const FIRST_WORDS_MS = 1500;
/** ...or this long after ICE connects, if the other side's sound does not come. */
export const ROOMY_START_MS = 6000;
/** How often the impolite side counts the other side's packets meanwhile. */
const FIRST_WORDS_POLL_MS = 200;
/** A roomy start's end put off by a negotiation under way is tried again this soon. */
const RETRY_ROOMY_MS = 1000;

/**
 * The Opus packet length a description asks for (tuneOpus writes it), or null.
 * @param {string} sdp
 */
function askedPtime(sdp) {
  const found = /^a=ptime:(\d+)/m.exec(sdp);
  return found ? Number(found[1]) : null;
}

/** The signaling messages a call handles (in order, one after the other). */
const SIGNALS = ["offer", "answer", "candidate", "reach", "peer-resumed"];

export class Call extends EventTarget {
  /**
   * @param {{signaling: SignalingClient, polite: boolean, iceServers?: RTCIceServer[],
   *          localStream?: MediaStream | null, audioOnly?: boolean, reach?: boolean,
   *          weakLink?: boolean, peerStep?: Step, startPtime?: number}} options
   * `reach`: Opus fitted to the link and the automatic steps (off: Chromium's defaults).
   * `weakLink`: the device check found a slow link, so the call starts in sound only
   * but may step up when the link allows (unlike a chosen "hemat kuota").
   * `peerStep`: the step the other side starts on, when it said so before the first
   * offer (a client on a weak link, in its `join`): the first offer fits it (issue 25).
   * `startPtime`: the Opus packet length of that weak-link start, as the client's
   * `join` said (devicecheck.js: startPtime); both sides must use the same, since
   * each tunes what it receives. It holds for the first words only
   * (FIRST_WORDS_PACKETS), or until the call's step first changes.
   */
  constructor({ signaling, polite, iceServers = [], localStream = null, audioOnly = false, reach = true, weakLink = false, peerStep = "full", startPtime = TIGHT_PTIME }) {
    super();
    this.reach = reach;
    /** Sound only because the person asked for it: the steps never bring video back. */
    this.chosenAudioOnly = audioOnly && !weakLink;
    this.policy = new StepPolicy({ step: audioOnly ? "audio" : "full" });
    /** @type {Step} */ this.peerStep = peerStep;
    /** @type {Step} */ this.step = leaner(audioOnly ? "audio" : "full", peerStep);
    /** Whether the last negotiation asked for lean Opus (see _tight), and in what packets. */
    this.negotiatedTight = false;
    this.ptime = startPtime;
    this.negotiatedPtime = startPtime;
    /** Ends a roomy start (_awaitFirstWords, _leaveRoomyStart). @type {ReturnType<typeof setInterval> | null} */ this.roomyWatch = null;
    /** @type {ReturnType<typeof setTimeout> | null} */ this.roomyTimer = null;
    /** The media-state the server last heard from us, and when ICE trouble began. */
    this.reported = "";
    /** @type {number | null} */ this.troubleSince = null;
    this.lastPackets = -1;
    this.lastPacketAt = Date.now();
    /** Whether ICE has been connected at least once (our counters mean something since). */
    this.wasConnected = false;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.troubleTimer = null;
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
    for (const type of SIGNALS) signaling.addEventListener(type, this._onSignal);
    if (audioOnly) this.setAudioOnly(true, !weakLink);
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
        this._sendDescription();
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
      if (this.reach && (state === "disconnected" || state === "failed")) this._suspectOutage();
      else this._report(state);
      // The path may be gone because our address changed: then so is our
      // signaling socket, silently, and no restart offer could reach us.
      if (state === "disconnected" || state === "failed") this.signaling.checkAlive?.();
      // ICE failed (a network change, NAT rebinding): gather fresh candidates.
      // restartIce() triggers negotiationneeded. The officer's side only, so
      // that two restart offers never cross.
      if (state === "failed" && !this.polite) pc.restartIce();
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
    this.receive(/** @type {CustomEvent} */ (event).detail);
  }

  /** Handle a signaling message that arrived before this call existed (or any other). @param {any} message */
  receive(message) {
    this.queue = this.queue.then(() => this._handle(message)).catch((err) => console.warn("signal", err));
  }

  /** @param {any} message */
  async _handle(message) {
    if (this.closed) return;
    const pc = this.pc;
    if (message.type === "reach") {
      this.peerStep = message.step;
      await this._applyStep();
      return;
    }
    if (message.type === "peer-resumed") {
      // The other side's socket died and came back: its address probably changed,
      // so its old ICE path is gone too. The officer restarts ICE (the client
      // waits for its offer).
      if (!this.polite) await this._restartAfterResume();
      return;
    }
    if (message.type === "resumed") {
      // Our own socket was resumed (the officer's console changed network).
      if (!this.polite) await this._restartAfterResume();
      return;
    }
    if (message.type === "candidate") {
      try {
        await pc.addIceCandidate(message.candidate || undefined);
      } catch (err) {
        // A candidate for an offer we ignored is expected to fail.
        if (!this.ignoreOffer) console.warn("candidate", err);
      }
      return;
    }
    // The impolite side left a roomy start (its offer asks for the lean length): so do we.
    if (message.type === "offer" && this.ptime !== TIGHT_PTIME && askedPtime(message.sdp) === TIGHT_PTIME) this.ptime = TIGHT_PTIME;
    const description = { type: message.type, sdp: this._tight() ? tuneOpus(message.sdp, { ptime: this.ptime }) : message.sdp };
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
      this._sendDescription();
    }
  }

  /**
   * After either side's socket was resumed: an offer of ours that went into a
   * dead socket goes again, with the candidates gathered since; else restart
   * ICE, unless the old path carries media again (a mere outage, now over).
   */
  async _restartAfterResume() {
    const pc = this.pc;
    if (pc.signalingState === "have-local-offer") {
      this._sendDescription();
      return;
    }
    await this._countPackets();
    const ice = pc.iceConnectionState;
    const flowing = (ice === "connected" || ice === "completed") && Date.now() - this.lastPacketAt < STALL_MS;
    if (!flowing) pc.restartIce();
  }

  /** Lean Opus is asked for below full video (reach.js: tuneOpus): the small layer needs the room too. */
  _tight() {
    return this.reach && this.step !== "full";
  }

  /** Send our description; tuned on the wire only, so our own encoder follows the other side's. */
  _sendDescription() {
    const local = this.pc.localDescription;
    if (!local) return;
    this.negotiatedTight = this._tight();
    this.negotiatedPtime = this.ptime;
    this.signaling.send({ type: local.type, sdp: this.negotiatedTight ? tuneOpus(local.sdp, { ptime: this.ptime }) : local.sdp });
  }

  /** Count the other side's sound until the first words (FIRST_WORDS_PACKETS), then leave the roomy start. */
  _awaitFirstWords() {
    const since = Date.now();
    /** @type {number | null} */ let firstAt = null;
    this.roomyWatch = setInterval(async () => {
      const packets = (await this._inboundPackets("audio")) ?? 0; // null: closed meanwhile, and this turn stops
      const now = Date.now();
      if (packets > 0 && firstAt === null) firstAt = now;
      const heard = packets >= FIRST_WORDS_PACKETS || (firstAt !== null && now - firstAt >= FIRST_WORDS_MS) || now - since >= ROOMY_START_MS;
      if (this.roomyWatch === null || (!heard && !this.closed)) return;
      clearInterval(this.roomyWatch);
      this.roomyWatch = null;
      this._leaveRoomyStart();
    }, FIRST_WORDS_POLL_MS);
  }

  /**
   * The impolite side ends a roomy start and renegotiates to the proven lean
   * length; the polite side follows its offer (receive). Tried again while a
   * negotiation is under way.
   */
  async _leaveRoomyStart() {
    this.roomyTimer = null;
    if (this.closed) return;
    this.ptime = TIGHT_PTIME;
    if (!this._tight() || this.negotiatedPtime === this.ptime) return;
    await this._renegotiate();
    if (!this.closed && this.negotiatedPtime !== this.ptime) this.roomyTimer = setTimeout(() => this._leaveRoomyStart(), RETRY_ROOMY_MS);
  }

  /** Offer again (perfect negotiation copes with glare) so that a new Opus packet length applies. */
  async _renegotiate() {
    const pc = this.pc;
    if (this.closed || pc.signalingState !== "stable" || !pc.remoteDescription) return;
    try {
      this.makingOffer = true;
      await pc.setLocalDescription(await pc.createOffer());
      this._sendDescription();
    } catch (err) {
      console.warn("renegotiation failed", err);
    } finally {
      this.makingOffer = false;
    }
  }

  /**
   * The call's step is the leaner of ours and the other side's: the client's
   * link carries both directions. Tell the other side when ours changes.
   * @param {Step} [mine]
   */
  async _applyStep(mine) {
    if (mine && mine !== this.policy.step) this.policy.step = mine;
    if (mine) this.signaling.send({ type: "reach", step: mine });
    const step = leaner(this.policy.step, this.peerStep);
    if (step === this.step) return;
    this.step = step;
    // A start's roomier packets were for the first words: any step goes to the
    // proven lean length, on both sides alike (each side sees the same step change).
    this.ptime = TIGHT_PTIME;
    this._emit("step", { step, mine: this.policy.step, peer: this.peerStep });
    await this._applyLayers();
    // The impolite side renegotiates for the new packet length; one offer tunes both ways.
    if (!this.polite && (this.negotiatedTight !== this._tight() || (this._tight() && this.negotiatedPtime !== this.ptime))) await this._renegotiate();
  }

  /** What we send, for the current step: the video layer and the Opus ceiling. */
  async _applyLayers() {
    const step = this.step;
    const video = this._transceiver("video");
    const audio = this._transceiver("audio");
    if (video && !this.audioOnly) await this._videoLayer(video.sender, step);
    if (audio) await this._capBitrate(audio.sender, step !== "full" ? TIGHT_AUDIO_BITRATE : this.audioOnly ? LOW_AUDIO_BITRATE : null);
  }

  /** @param {RTCRtpSender} sender @param {Step} step */
  async _videoLayer(sender, step) {
    try {
      const params = sender.getParameters();
      if (!params.encodings || !params.encodings.length) return;
      for (const enc of params.encodings) {
        enc.active = step !== "audio";
        if (step === "low") {
          enc.scaleResolutionDownBy = LOW_VIDEO.scaleResolutionDownBy;
          enc.maxBitrate = LOW_VIDEO.maxBitrate;
          enc.maxFramerate = LOW_VIDEO.maxFramerate;
        } else {
          enc.scaleResolutionDownBy = 1;
          enc.maxBitrate = NORMAL_VIDEO_BITRATE;
          delete enc.maxFramerate;
        }
      }
      await sender.setParameters(params);
    } catch (err) {
      console.warn("video layer", err);
    }
  }

  /** Tell the server (and the page) this side's media state, once per change. @param {string} state */
  _report(state) {
    this._endTrouble();
    if (state === this.reported) return;
    // The other side learns our step once the call is up (its Call may not have existed before).
    if (this.reach && (state === "connected" || state === "completed") && !this.reported.startsWith("co")) {
      this.signaling.send({ type: "reach", step: this.policy.step });
      this._applyLayers(); // the encodings exist now
      if (!this.polite && this.ptime !== TIGHT_PTIME && !this.roomyWatch) this._awaitFirstWords();
    }
    this.reported = state;
    this.signaling.send({ type: "media-state", state });
    this._emit("ice-state", { state });
  }

  /**
   * ICE says disconnected (or failed): watch the inbound packet counters every
   * second and report only once the media has really stopped for a while.
   */
  _suspectOutage() {
    if (this.troubleTimer) return;
    this.troubleSince = Date.now();
    const timer = setInterval(async () => {
      const before = this.pc.iceConnectionState;
      if (before !== "disconnected" && before !== "failed") return this._report(before);
      await this._countPackets();
      // Read again after the await: ICE may have come back while getStats() ran (it
      // takes long on a loaded phone), and _report("connected") ended this watch.
      // A stale "disconnected" sent after that would stand on the server for as long
      // as ICE then stays connected: the call's time would not count (evidence lost).
      const state = this.pc.iceConnectionState;
      if (this.troubleTimer !== timer) return;
      if (state !== "disconnected" && state !== "failed") return this._report(state);
      const now = Date.now();
      if (now - /** @type {number} */ (this.troubleSince) >= HICCUP_MS && now - this.lastPacketAt >= STALL_MS) {
        const since = this.troubleSince;
        this._endTrouble();
        this.reported = state;
        // how long the media had already been stopped: the server does not count it
        this.signaling.send({ type: "media-state", state, stalled_ms: Math.max(0, now - Math.max(/** @type {number} */ (since), this.lastPacketAt)) });
        this._emit("ice-state", { state });
        // The path may be gone for good (new address): fresh candidates, by the impolite side.
        if (!this.polite) this.pc.restartIce();
      }
    }, 1000);
    this.troubleTimer = timer;
  }

  _endTrouble() {
    if (this.troubleTimer) clearInterval(this.troubleTimer);
    this.troubleTimer = null;
    this.troubleSince = null;
  }

  /**
   * After a resume, the stall we had reported (into the dead socket, perhaps),
   * said again; unless packets arrive again: the outage is over and ICE has not
   * said so yet. A stale `disconnected` would close the interval the server had
   * just reopened on both sides' rising counters, and log one outage twice.
   * Then ICE's return (or a stall that comes back) is reported as usual.
   * @param {string} state
   */
  async _reportStallAgain(state) {
    const before = this.lastPackets;
    await this._countPackets();
    if (this.closed || this.reported !== state || this.pc.iceConnectionState !== state) return;
    if (this.lastPackets !== before) {
      this._suspectOutage();
      return;
    }
    this.signaling.send({ type: "media-state", state, stalled_ms: Math.min(60000, Math.max(0, Date.now() - this.lastPacketAt)) });
  }

  /**
   * The packets received so far (of one kind, or all), or null when the stats
   * cannot be read (the connection closed meanwhile).
   * @param {string} [kind]
   * @returns {Promise<number | null>}
   */
  async _inboundPackets(kind) {
    let packets = 0;
    try {
      (await this.pc.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp" && (!kind || s.kind === kind)) packets += s.packetsReceived || 0;
      });
    } catch {
      return null;
    }
    return packets;
  }

  /** Note when the inbound packet count last rose. */
  async _countPackets() {
    const packets = await this._inboundPackets();
    if (packets === null) return;
    if (packets !== this.lastPackets) {
      this.lastPackets = packets;
      this.lastPacketAt = Date.now();
    }
  }

  /**
   * Our signaling socket was replaced by a resumed one: say again what the
   * server may have missed (our ICE state, our step), sent into the dead socket.
   * The officer's side then restarts ICE as for the client's `peer-resumed`
   * (its own address probably changed), in turn with the signals.
   */
  resync() {
    if (this.closed) return;
    this.receive({ type: "resumed" });
    const state = this.pc.iceConnectionState;
    const was = this.reported;
    this.reported = "";
    if (this.reach && (state === "disconnected" || state === "failed")) {
      if (was === state) {
        this.reported = state;
        this._reportStallAgain(state);
      } else {
        this._suspectOutage();
      }
    } else {
      this._report(state);
    }
    if (this.reach) this.signaling.send({ type: "reach", step: this.policy.step });
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
   * @param {boolean} [chosen] by the person (not by the device check's weak-link guess)
   */
  async setAudioOnly(on, chosen = true) {
    this.audioOnly = on;
    this.chosenAudioOnly = on && chosen;
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
    if (this.reach) {
      // Sound only is the leanest step; the call leaves it only when asked (or, after a
      // weak-link start, when the link proves better).
      if (chosen) this.policy = new StepPolicy({ step: on ? "audio" : "full" });
      await this._applyStep(this.policy.step);
      await this._applyLayers();
    } else if (audio) {
      await this._capBitrate(audio.sender, on ? LOW_AUDIO_BITRATE : null);
    }
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
    /** @type {number | null} */ let rttMs = null;
    /** @type {number | null} */ let availableKbps = null;
    /** @type {number | null} */ let jitterMs = null;
    let bytes = 0;
    let lost = 0;
    let received = 0;
    /** What we received, per kind: the server counts the call's time only while both sides' rise. */
    const inbound = /** @type {Record<string, {packets: number, bytes: number}>} */ ({});
    report.forEach((s) => {
      if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
        if (s.currentRoundTripTime != null) rttMs = Math.round(s.currentRoundTripTime * 1000);
        if (s.availableOutgoingBitrate != null) availableKbps = Math.round(s.availableOutgoingBitrate / 1000);
      }
      if (s.type === "inbound-rtp") {
        const kind = s.kind === "video" ? "video" : "audio";
        inbound[kind] = inbound[kind] || { packets: 0, bytes: 0 };
        inbound[kind].packets += s.packetsReceived || 0;
        inbound[kind].bytes += s.bytesReceived || 0;
        bytes += s.bytesReceived || 0;
        lost += Math.max(0, s.packetsLost || 0);
        received += s.packetsReceived || 0;
        if (s.kind === "audio" && s.jitter != null) jitterMs = Math.round(s.jitter * 1000);
      }
    });
    const now = Date.now();
    if (received !== this.lastPackets) {
      this.lastPackets = received;
      this.lastPacketAt = now;
    } else if (this.wasConnected && now - this.lastPacketAt >= STALL_MS) {
      // Nothing arrives: is our socket alive? (Chromium's ICE takes ~5 s to say disconnected.)
      this.signaling.checkAlive?.();
    }
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
    if (connected) this.wasConnected = true;
    // The heartbeat with our inbound counters (docs/signaling.md, "ping"): the server's evidence of media.
    // Also while ICE is out of `connected` once the call was up: counters that stopped rising close the
    // call's interval within one period, before a lost path has been confirmed (or restarted).
    if (connected || this.wasConnected) this.signaling.send({ type: "ping", inbound });
    const level = connected ? gradeQuality({ rttMs, lossPct, jitterMs, availableKbps }) : "unknown";
    this._emit("quality", { level, rttMs, lossPct, jitterMs, availableKbps, kbps });
    // the automatic steps (a chosen "hemat kuota" stays in sound only)
    if (this.reach && connected && !this.chosenAudioOnly) {
      const before = this.policy.step;
      const mine = this.policy.sample({ availableKbps, lossPct, rttMs });
      if (mine !== before) {
        // A weak-link start stepping up: the camera comes back (the page follows "local-stream").
        if (this.audioOnly && mine !== "audio") await this.setAudioOnly(false, false);
        else await this._applyStep(mine);
      }
    }
  }

  /** Close the peer connection; the signaling client stays (it may rejoin). */
  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.statsTimer) clearInterval(this.statsTimer);
    if (this.roomyWatch) clearInterval(this.roomyWatch);
    if (this.roomyTimer) clearTimeout(this.roomyTimer);
    this._endTrouble();
    for (const type of SIGNALS) this.signaling.removeEventListener(type, this._onSignal);
    try { this.pc.close(); } catch { /* ignore */ }
    this.signaling.send({ type: "media-state", state: "closed" });
    this._emit("ice-state", { state: "closed" });
  }

  /** @param {string} type @param {any} detail */
  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
