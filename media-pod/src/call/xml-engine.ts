/**
 * Runs a Plivo XML application on a call: verbs in document order, Redirect, GetDigits and
 * GetInput actions replacing the document, PreAnswer early media, scheduled hangups, and the
 * end-of-document rule (4010). Everything that touches the call goes through CallControl.
 */
import type { Logger } from '@sipflow/operator/log';
import { parsePlivoXml, type PlivoVerb, type PlivoXmlParseResult, type PromptVerb } from '../xml/index.js';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import type { CallControl, DigitCollection, FrameSource, HangupCause } from './control.js';
import { causeFor } from './causes.js';
import { BeepDetector, isSound } from '../media/analysis/detectors.js';
import { parseHints, type InterimResult, type RecognitionResult, type RecognitionSession, type SpeechRecognizer } from '../speech/recognizer.js';
import type { FinishedRecording, RecordingSink, RecordingStore } from '../recording/store.js';
import { randomUUID } from 'node:crypto';

/** Abort reasons for the prompt loop; a reasonless abort() would build a DOMException each time. */
const BARGE_IN = 'digit pressed';
const WAIT_HEARD = 'silence or beep heard';
const PROMPTS_DONE = 'prompts finished';
const SPEECH_HEARD = 'caller started speaking';

/** Documents fetched for one call (answer, redirects, actions) before we call it a loop. */
const MAX_DOCUMENTS = 20;

/**
 * GetInput's digitEndTimeout="auto" (its default): Plivo leaves the gap to itself; five seconds
 * lets a caller read a number off a card without the input ending mid-way.
 */
export const AUTO_DIGIT_END_MS = 5000;

/** GetInput's speechEndTimeout="auto": this long without sound after speech ends the utterance. */
export const AUTO_SPEECH_END_MS = 1000;
/** Speech starts after this many 20 ms frames in a row above the sound threshold (60 ms). */
const SPEECH_ONSET_FRAMES = 3;
/** Audio from before the onset sent with the utterance, so its first syllable is not clipped (300 ms). */
const SPEECH_PREROLL_FRAMES = 15;

/** GetDigits playBeep: a 1 kHz tone for 250 ms once the prompts are over. */
const BEEP_MS = 250;
const BEEP_HZ = 1000;

type VerbOf<K extends PlivoVerb['kind']> = Extract<PlivoVerb, { kind: K }>;

/** GetInput's speech detection, started before its prompts. */
interface SpeechListening {
  readonly result: Promise<RecognitionResult | 'digit' | undefined>;
  /** The prompts are over: no speech by `deadline` means no input, and an utterance still going is cut off there. */
  armDeadline(deadline: number): void;
  /** Stops listening (the input was decided otherwise, or the engine is leaving). */
  cancel(): void;
}

/** What a verb tells the engine to do next. */
type Next = { kind: 'continue' } | { kind: 'replace'; xml: string; origin: string } | { kind: 'end' };

/** Why a <Record> (not recordSession) stopped: the key that ended it, or what did. */
type RecordEnd = { by: 'key'; key: string } | { by: 'timeout' | 'maxLength' | 'hangup' };

export class XmlEngine {
  private documents = 0;
  /** The call's <Record recordSession> in progress (one per call). */
  private sessionRecording: RecordingSink | undefined;
  private mp3Noted = false;
  private scheduledHangup: TimerHandle | undefined;
  /** The last <DTMF async="true"> still being sent. */
  private pendingDtmf: Promise<void> | undefined;

  constructor(private readonly call: CallControl, private readonly logger: Logger, private readonly clock: Clock = systemClock) {}

  /**
   * Runs from the answer URL's XML until the call ends; never throws. `answerParsed` is
   * `parsePlivoXml(answerXml)` when the caller already has it (the answer was validated), so the
   * document is not parsed twice.
   */
  async run(answerXml: string, answerParsed?: PlivoXmlParseResult): Promise<void> {
    try {
      let xml = answerXml;
      let origin = 'answer';
      let preParsed = answerParsed;
      for (;;) {
        if (++this.documents > MAX_DOCUMENTS) {
          this.call.hangup(causeFor(8011, 'Answer XML', `more than ${MAX_DOCUMENTS} XML documents for one call (redirect loop?)`));
          return;
        }
        const parsed = preParsed ?? parsePlivoXml(xml);
        preParsed = undefined;
        if (!parsed.ok) {
          const code = origin === 'answer' ? 8011 : origin === 'redirect' ? 8014 : 8012;
          this.logger.warn('invalid XML', { origin, line: parsed.error.line, error: parsed.error.message });
          this.call.hangup(causeFor(code, 'Error', `line ${parsed.error.line}: ${parsed.error.message}`));
          return;
        }
        const next = await this.runVerbs(parsed.document.verbs, false);
        if (this.call.signal.aborted) return;
        if (next.kind === 'replace') { xml = next.xml; origin = next.origin; continue; }
        if (next.kind === 'end') return;
        // Async digits let the next element start; with none left they must still reach the
        // caller before the end-of-XML hangup closes the media (the send is bounded by its digits).
        if (this.pendingDtmf) await Promise.race([this.pendingDtmf, abortPromise(this.call.signal)]);
        if (this.call.signal.aborted) return;
        this.call.hangup(causeFor(4010, 'Answer XML'));
        return;
      }
    } catch (err) {
      this.logger.error('XML engine failed', { error: err as Error });
      this.call.hangup(causeFor(5010, 'Error', (err as Error).message));
    } finally {
      this.clock.clearTimeout(this.scheduledHangup);
    }
  }

  private async runVerbs(verbs: readonly PlivoVerb[], early: boolean): Promise<Next> {
    for (let i = 0; i < verbs.length; i++) {
      if (this.call.signal.aborted) return { kind: 'end' };
      const verb = verbs[i]!;
      const next = await this.runVerb(verb, i === 0 && !this.call.answered, early);
      if (next.kind !== 'continue') return next;
    }
    return { kind: 'continue' };
  }

  private async ensureAnswered(early: boolean): Promise<void> {
    if (early) await this.call.preAnswer();
    else await this.call.answer();
  }

  private async runVerb(verb: PlivoVerb, first: boolean, early: boolean): Promise<Next> {
    this.logger.debug('verb', { verb: verb.kind, line: verb.line });
    switch (verb.kind) {
      case 'Speak': {
        await this.ensureAnswered(early);
        await this.playLooped(() => this.call.speech(verb.text, verb.voice, verb.language), verb.loop);
        return { kind: 'continue' };
      }
      case 'Play': {
        await this.ensureAnswered(early);
        try {
          await this.playLooped(() => this.call.audioFile(verb.url), verb.loop);
        } catch (err) {
          // A bad file skips the verb, as a missing prompt should not cost the caller the call.
          this.logger.warn('Play failed; continuing with the next element', { url: verb.url, error: (err as Error).message });
        }
        return { kind: 'continue' };
      }
      case 'Wait': return this.runWait(verb, first, early);
      case 'Hangup': return this.runHangup(verb, early);
      case 'Redirect': {
        const res = await this.call.fetchXml(verb.url, verb.method, {}, 'redirect');
        if (this.call.signal.aborted) return { kind: 'end' };
        if (!res.ok || res.xml === undefined) {
          this.call.hangup(causeFor(8014, 'Error', `Redirect to ${verb.url} failed: ${res.cause ?? 'unknown'} ${res.detail ?? ''}`.trim()));
          return { kind: 'end' };
        }
        return { kind: 'replace', xml: res.xml, origin: 'redirect' };
      }
      case 'PreAnswer': {
        if (!(await this.call.preAnswer())) {
          this.logger.warn('PreAnswer skipped: the INVITE had no SDP offer, so there can be no early media', { line: verb.line });
          return { kind: 'continue' };
        }
        const next = await this.runVerbs(verb.children, true);
        return next;
      }
      case 'GetDigits': return this.runGetDigits(verb, early);
      case 'GetInput': return this.runGetInput(verb, early);
      case 'DTMF': {
        await this.ensureAnswered(early);
        const sending = this.call.sendDtmf(verb.digits);
        if (!verb.async) await sending;
        else this.pendingDtmf = sending.catch((err: unknown) => this.logger.warn('DTMF send failed', { error: err as Error }));
        return { kind: 'continue' };
      }
      case 'Record': return this.runRecord(verb, early);
      case 'Stream': {
        await this.ensureAnswered(early);
        let handle;
        try {
          handle = await this.call.startStream(verb);
        } catch (err) {
          this.logger.warn('stream could not be opened; continuing with the next element', { url: verb.url, error: (err as Error).message });
          return { kind: 'continue' };
        }
        if (verb.keepCallAlive) {
          await Promise.race([handle.closed, abortPromise(this.call.signal)]);
          if (this.call.signal.aborted) return { kind: 'end' };
        }
        return { kind: 'continue' };
      }
      default: {
        this.call.hangup(causeFor(9010, 'Error', `<${verb.kind}> (line ${verb.line}) is not supported by sipflow yet`));
        return { kind: 'end' };
      }
    }
  }

  private async playLooped(make: () => Promise<FrameSource>, loop: number): Promise<void> {
    const times = loop === 0 ? Number.POSITIVE_INFINITY : Math.max(1, loop);
    for (let n = 0; n < times; n++) {
      if (this.call.signal.aborted) return;
      const src = await make();
      const completed = await this.call.play(src);
      if (!completed) return;
    }
  }

  private async runWait(verb: VerbOf<'Wait'>, first: boolean, early: boolean): Promise<Next> {
    const ms = verb.length * 1000;
    const listens = verb.silence || verb.beep;
    if (first && !early && !listens) {
      // As the first element, Plivo waits before answering: the caller hears ringing.
      await this.call.sleep(ms);
      return { kind: 'continue' };
    }
    // silence/beep listen to the caller's audio, which only flows once the call is answered.
    await this.ensureAnswered(early);
    if (!listens) {
      await this.call.play(silence(ms));
      return { kind: 'continue' };
    }
    const heard = new AbortController();
    const stopListening = this.listenForWaitEnd(verb, () => heard.abort(WAIT_HEARD));
    try {
      await this.call.play(silence(ms), heard.signal);
    } finally {
      stopListening();
    }
    return { kind: 'continue' };
  }

  /**
   * <Wait silence="true">: ends once the caller has made no sound for minSilence ms (no packets
   * at all counts as silence). <Wait beep="true">: ends when a voicemail beep is over. Returns
   * the function that stops listening.
   */
  private listenForWaitEnd(verb: VerbOf<'Wait'>, end: () => void): () => void {
    let lastSound = this.clock.now();
    let timer: TimerHandle | undefined;
    const checkSilence = (): void => {
      const quietFor = this.clock.now() - lastSound;
      if (quietFor >= verb.minSilence) { end(); return; }
      timer = this.clock.setTimeout(checkSilence, verb.minSilence - quietFor);
    };
    if (verb.silence) timer = this.clock.setTimeout(checkSilence, verb.minSilence);
    const beeps = verb.beep ? new BeepDetector() : undefined;
    let beeping = false;
    const stop = this.call.listen((pcm) => {
      if (verb.silence && isSound(pcm)) lastSound = this.clock.now();
      if (beeps) {
        const now = beeps.push(pcm);
        if (beeping && !now) { this.logger.info('Wait: voicemail beep heard', { line: verb.line }); end(); }
        beeping = now;
      }
    });
    return () => { stop(); this.clock.clearTimeout(timer); };
  }

  private runHangup(verb: VerbOf<'Hangup'>, early: boolean): Next {
    if (verb.schedule !== undefined && verb.schedule > 0) {
      this.clock.clearTimeout(this.scheduledHangup);
      this.scheduledHangup = this.clock.setTimeout(() => this.call.hangup(causeFor(6000, 'Answer XML')), verb.schedule * 1000);
      return { kind: 'continue' };
    }
    if (!this.call.answered) {
      if (verb.reason === 'busy') this.call.reject(486, 'Busy Here', causeFor(3010, 'Answer XML'));
      else this.call.reject(603, 'Decline', causeFor(3020, 'Answer XML'));
      return { kind: 'end' };
    }
    void early;
    this.call.hangup(causeFor(4000, 'Answer XML'));
    return { kind: 'end' };
  }

  private async runGetDigits(verb: VerbOf<'GetDigits'>, early: boolean): Promise<Next> {
    await this.ensureAnswered(early);
    const attempts = Math.max(1, verb.retries);
    const valid = new Set(verb.validDigits.split(''));
    const finishKey = verb.finishOnKey === 'none' ? '' : verb.finishOnKey;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const collector = this.call.collectDigits({ redact: !verb.log });
      try {
        await this.playPrompts(verb.children, collector, verb.playBeep);
        if (this.call.signal.aborted) return { kind: 'end' };
        let digits = '';
        let timeout = verb.timeout * 1000;
        let invalid = false;
        for (;;) {
          const d = await collector.next(timeout);
          if (d === null) break;
          if (d === finishKey) break;
          if (!valid.has(d)) { invalid = true; break; }
          digits += d;
          if (digits.length >= verb.numDigits) break;
          timeout = verb.digitTimeout * 1000;
        }
        if (this.call.signal.aborted) return { kind: 'end' };
        if (invalid) {
          if (verb.invalidDigitsSound) {
            try { await this.call.play(await this.call.audioFile(verb.invalidDigitsSound)); } catch { /* the retry still happens */ }
          }
          continue;
        }
        if (digits.length === 0) continue;
        if (!verb.action) return { kind: 'continue' };
        return await this.submitInput('GetDigits', { ...verb, action: verb.action }, { Digits: digits });
      } finally {
        collector.close();
      }
    }
    // No input after every retry: carry on with the next element, as Plivo does.
    return { kind: 'continue' };
  }

  /**
   * Nested Speak/Play/Wait prompts, in order, until the caller presses a key (barge-in); then the
   * beep when asked for and the prompts ran to their end.
   */
  private async playPrompts(children: readonly PromptVerb[], collector: DigitCollection, beep: boolean, stop?: AbortSignal): Promise<void> {
    const bargeIn = new AbortController();
    void collector.whenAny().then(() => bargeIn.abort(BARGE_IN));
    if (stop?.aborted) bargeIn.abort(stop.reason);
    else stop?.addEventListener('abort', () => bargeIn.abort(stop.reason), { once: true });
    for (const child of children) {
      if (bargeIn.signal.aborted || this.call.signal.aborted) break;
      const make = (): Promise<FrameSource> => child.kind === 'Speak' ? this.call.speech(child.text, child.voice, child.language)
        : child.kind === 'Play' ? this.call.audioFile(child.url).catch(() => silence(0))
          : Promise.resolve(silence(child.kind === 'Wait' ? child.length * 1000 : 0));
      const loops = child.kind === 'Wait' ? 1 : child.loop === 0 ? 1000 : child.loop;
      for (let n = 0; n < loops && !bargeIn.signal.aborted; n++) {
        if (!(await this.call.play(await make(), bargeIn.signal))) break;
      }
    }
    if (beep && !bargeIn.signal.aborted && !this.call.signal.aborted) await this.call.play(tone(BEEP_HZ, BEEP_MS), bargeIn.signal);
    bargeIn.abort(PROMPTS_DONE);
  }

  /**
   * GetInput: prompts with barge-in by key, then up to executionTimeout seconds of input counted
   * from the end of the prompts.
   * - Digits: each within digitEndTimeout of the last, ended early by finishOnKey or numDigits;
   *   they go to the action with InputType=dtmf.
   * - Speech (with a recognizer, `--speech-recognizer-url`): the pod finds the utterance itself
   *   (sound above -40 dBFS for 60 ms starts it, also during the prompts, which it then stops;
   *   speechEndTimeout of quiet ends it; the deadline cuts it off) and sends only that stretch,
   *   with 300 ms before the onset, to the recognizer;
   *   the text goes to the action with InputType=speech, Speech and SpeechConfidenceScore.
   * - "dtmf speech" (also when inputType is absent): whichever starts first wins.
   * No input, or nothing recognized, carries on with the next element. Without a recognizer
   * "speech" alone ends the call with a cause that says so, and "dtmf speech" takes digits only.
   */
  private async runGetInput(verb: VerbOf<'GetInput'>, early: boolean): Promise<Next> {
    const type = verb.inputType ?? 'dtmf speech';
    const recognizer = type === 'dtmf' ? undefined : this.call.speechRecognizer;
    if (type === 'speech' && !recognizer) {
      this.call.hangup(causeFor(9010, 'Error', `<GetInput inputType="speech"> (line ${verb.line}) needs a speech recognizer, and this pod has none (--speech-recognizer-url)`));
      return { kind: 'end' };
    }
    if (type !== 'dtmf' && !recognizer) {
      this.logger.warn('GetInput: no speech recognizer is configured, so only digits are collected', { line: verb.line, inputType: verb.inputType ?? '(not set)' });
    }
    await this.ensureAnswered(early);
    const collector = this.call.collectDigits({ redact: !verb.log });
    let input: { kind: 'dtmf'; digits: string } | { kind: 'speech'; result: RecognitionResult } | undefined;
    // Speech is listened for from the start of the prompts, and its onset stops them, as a key does.
    const prompts = new AbortController();
    const speech = recognizer
      ? this.listenForSpeech(verb, recognizer, type === 'speech' ? undefined : collector, () => prompts.abort(SPEECH_HEARD))
      : undefined;
    try {
      await this.playPrompts(verb.children, collector, false, prompts.signal);
      if (this.call.signal.aborted) return { kind: 'end' };
      // executionTimeout bounds the whole detection, counted from the end of the prompts.
      const deadline = this.clock.now() + verb.executionTimeout * 1000;
      let digitsFirst = !speech;
      if (speech) {
        speech.armDeadline(deadline);
        const heard = await speech.result;
        if (heard === 'digit') digitsFirst = true;
        else if (heard) input = { kind: 'speech', result: heard };
      }
      if (digitsFirst) {
        const digits = await this.collectDigitInput(verb, collector, deadline);
        if (digits) input = { kind: 'dtmf', digits };
      }
    } finally {
      speech?.cancel();
      collector.close();
    }
    if (this.call.signal.aborted) return { kind: 'end' };
    if (input?.kind === 'dtmf') return this.submitInput('GetInput', verb, { InputType: 'dtmf', Digits: input.digits });
    if (input?.kind === 'speech' && input.result.text !== '') {
      const { text, confidence } = input.result;
      this.logger.info('GetInput: speech recognized', { line: verb.line, confidence, ...(verb.log ? { speech: text } : { speechChars: text.length }) });
      return this.submitInput('GetInput', verb, { InputType: 'speech', Speech: text, SpeechConfidenceScore: String(Math.round(confidence * 1000) / 1000) });
    }
    return { kind: 'continue' };
  }

  /** GetInput's digits until the deadline, the gap, finishOnKey or numDigits; '' for none. */
  private async collectDigitInput(verb: VerbOf<'GetInput'>, collector: DigitCollection, deadline: number): Promise<string> {
    const finishKey = verb.finishOnKey === 'none' ? '' : verb.finishOnKey;
    const gapMs = verb.digitEndTimeout === 'auto' ? AUTO_DIGIT_END_MS : verb.digitEndTimeout * 1000;
    let digits = '';
    for (;;) {
      const left = Math.ceil(deadline - this.clock.now());
      if (left <= 0) break;
      const d = await collector.next(digits.length === 0 ? left : Math.min(left, gapMs));
      if (d === null || d === finishKey) break;
      digits += d;
      if (digits.length >= verb.numDigits) break;
    }
    return digits;
  }

  /**
   * Listens for the caller's speech from now on (the prompts are still to play): `onSpeech` is
   * called at the onset, so the prompts can stop (barge-in). The utterance goes to the recognizer
   * and `result` resolves with its answer. 'digit' when `digits` is given and a key came before
   * any speech; undefined for no speech by the deadline set with `armDeadline`, a failed
   * recognizer or the call ending.
   */
  private listenForSpeech(verb: VerbOf<'GetInput'>, recognizer: SpeechRecognizer, digits: DigitCollection | undefined, onSpeech: () => void): SpeechListening {
    const endQuietMs = verb.speechEndTimeout === 'auto' ? AUTO_SPEECH_END_MS : verb.speechEndTimeout * 1000;
    const preroll: Int16Array[] = [];
    let loudRun = 0;
    let session: RecognitionSession | undefined;
    let lastSound = 0;
    let settled = false;
    let endTimer: TimerHandle | undefined;
    let deadlineTimer: TimerHandle | undefined;
    let resolve!: (r: RecognitionResult | 'digit' | undefined) => void;
    const result = new Promise<RecognitionResult | 'digit' | undefined>((r) => { resolve = r; });
    let listening = true;
    // interimSpeechResultsCallback: each transcript in progress, numbered, until the final one.
    let interims = 0;
    const interimUrl = verb.interimSpeechResultsCallback;
    const interim = interimUrl
      ? (r: InterimResult): void => {
        if (settled) return;
        this.call.notify(interimUrl, verb.interimSpeechResultsCallbackMethod, {
          StableSpeech: r.stable, UnstableSpeech: r.unstable, Stability: String(Math.round(r.stability * 1000) / 1000), SequenceNumber: String(++interims),
        }, 'interim-speech');
      }
      : undefined;
    const stopFn = this.call.listen((pcm) => {
      if (!listening) return;
      const loud = isSound(pcm);
      if (session) {
        session.write(pcm);
        if (loud) lastSound = this.clock.now();
        return;
      }
      preroll.push(pcm.slice());
      if (preroll.length > SPEECH_PREROLL_FRAMES) preroll.shift();
      loudRun = loud ? loudRun + 1 : 0;
      if (loudRun < SPEECH_ONSET_FRAMES) return;
      session = recognizer.start({
        language: verb.language, hints: parseHints(verb.hints), speechModel: verb.speechModel ?? 'default', profanityFilter: verb.profanityFilter,
      }, interim);
      for (const f of preroll) session.write(f);
      preroll.length = 0;
      lastSound = this.clock.now();
      this.logger.debug('GetInput: speech started', { line: verb.line });
      endTimer = this.clock.setTimeout(checkQuiet, endQuietMs);
      onSpeech();
    });
    const stopListening = (): void => { if (listening) { listening = false; stopFn(); } };
    const settle = (r: RecognitionResult | 'digit' | undefined): void => {
      if (settled) return;
      settled = true;
      stopListening();
      this.clock.clearTimeout(deadlineTimer);
      this.clock.clearTimeout(endTimer);
      this.call.signal.removeEventListener('abort', onCallEnd);
      resolve(r);
    };
    // The utterance is over (quiet, or the deadline): the recognizer has the last word.
    const endUtterance = (why: string): void => {
      if (settled || !session) return;
      const s = session;
      stopListening();
      this.clock.clearTimeout(endTimer);
      this.clock.clearTimeout(deadlineTimer);
      this.logger.debug('GetInput: end of speech', { line: verb.line, why });
      void s.finish().then((r) => settle(r));
    };
    const checkQuiet = (): void => {
      const quietFor = this.clock.now() - lastSound;
      if (quietFor >= endQuietMs) { endUtterance('quiet'); return; }
      endTimer = this.clock.setTimeout(checkQuiet, endQuietMs - quietFor);
    };
    const onCallEnd = (): void => { session?.abort(); settle(undefined); };
    this.call.signal.addEventListener('abort', onCallEnd, { once: true });
    if (digits) void digits.whenAny().then(() => { if (!session) settle('digit'); });
    if (this.call.signal.aborted) onCallEnd();
    return {
      result,
      armDeadline: (deadline) => {
        if (settled || deadlineTimer !== undefined) return;
        deadlineTimer = this.clock.setTimeout(() => {
          if (session) endUtterance('executionTimeout'); else settle(undefined);
        }, Math.max(0, deadline - this.clock.now()));
      },
      cancel: () => { if (!settled) { session?.abort(); settle(undefined); } },
    };
  }

  private async runRecord(verb: VerbOf<'Record'>, early: boolean): Promise<Next> {
    const store = this.call.recordings;
    if (!store) {
      this.call.hangup(causeFor(9010, 'Error', `<Record> (line ${verb.line}) needs a recording store, and this pod has none (--recording-url)`));
      return { kind: 'end' };
    }
    if (verb.startOnDialAnswer) {
      // It waits for a <Dial> to be answered, and sipflow does not dial: there is never anything to record.
      this.logger.warn('Record startOnDialAnswer skipped: sipflow does not run <Dial>', { line: verb.line });
      return { kind: 'continue' };
    }
    if (verb.fileFormat === 'mp3' && !this.mp3Noted) {
      this.mp3Noted = true;
      this.logger.info('recordings are stored as WAV (8 kHz, 16-bit); fileFormat="mp3" is recorded as WAV', { line: verb.line });
    }
    await this.ensureAnswered(early);
    if (this.call.signal.aborted) return { kind: 'end' };
    return verb.recordSession ? this.startSessionRecording(verb, store) : this.recordMessage(verb, store);
  }

  /**
   * A message (voicemail): a beep, then the caller's audio until the finish key, `timeout` seconds
   * without sound, `maxLength` or the hang-up. The file is stored before the action is requested,
   * so the application can fetch RecordUrl at once.
   */
  private async recordMessage(verb: VerbOf<'Record'>, store: RecordingStore): Promise<Next> {
    const finishKey = verb.finishOnKey === 'none' ? '' : verb.finishOnKey;
    if (verb.playBeep && !(await this.call.play(tone(BEEP_HZ, BEEP_MS)))) return { kind: 'end' };
    const collector = finishKey ? this.call.collectDigits() : undefined;
    const sink = store.start(randomUUID(), 1);
    const startMs = this.clock.wallNow();
    let lastSound = this.clock.now();
    let recording = true;
    // Per 20 ms tick rather than per packet, so pauses a caller's phone sends no packets for are kept.
    const stopListening = this.call.record((caller) => {
      if (!recording) return;
      sink.write(caller);
      if (isSound(caller)) lastSound = this.clock.now();
    });
    let end: RecordEnd;
    try {
      end = await new Promise<RecordEnd>((resolve) => {
        const timers: (TimerHandle | undefined)[] = [];
        let settled = false;
        const settle = (e: RecordEnd): void => {
          if (settled) return;
          settled = true;
          recording = false;
          for (const t of timers) this.clock.clearTimeout(t);
          this.call.signal.removeEventListener('abort', onAbort);
          resolve(e);
        };
        const onAbort = (): void => settle({ by: 'hangup' });
        this.call.signal.addEventListener('abort', onAbort, { once: true });
        if (this.call.signal.aborted) { settle({ by: 'hangup' }); return; }
        timers.push(this.clock.setTimeout(() => settle({ by: 'maxLength' }), verb.maxLength * 1000));
        const silenceMs = verb.timeout * 1000;
        const checkSilence = (): void => {
          const quiet = this.clock.now() - lastSound;
          if (quiet >= silenceMs) settle({ by: 'timeout' });
          else timers.push(this.clock.setTimeout(checkSilence, silenceMs - quiet));
        };
        if (silenceMs > 0) timers.push(this.clock.setTimeout(checkSilence, silenceMs));
        if (collector) {
          void (async () => {
            while (!settled) {
              const d = await collector.next(verb.maxLength * 1000 + 1000);
              if (d === null) return;
              if (d === finishKey) settle({ by: 'key', key: d });
            }
          })();
        }
      });
    } finally {
      stopListening();
      collector?.close();
    }
    const endMs = this.clock.wallNow();
    const stored = await this.storeRecording(sink, verb.line);
    const params = recordParams(sink, stored, startMs, endMs, end.by === 'key' ? end.key : end.by === 'hangup' ? 'hangup' : '');
    if (stored && verb.callbackUrl) this.call.notify(verb.callbackUrl, verb.callbackMethod, params, 'record-callback');
    if (this.call.signal.aborted) {
      // The caller hung up while recording: the action still hears of the message, in the background.
      if (verb.action) this.call.notify(verb.action, verb.method, params, 'record-action');
      return { kind: 'end' };
    }
    if (!verb.action) return { kind: 'continue' };
    return this.submitInput('Record', { ...verb, action: verb.action }, params);
  }

  /**
   * recordSession: the whole call from here on (the caller and what is played to them, as two
   * channels or mixed into one) in the background; the next element runs at once. When the call
   * ends the file is stored, then `action` and `callbackUrl` are requested in the background.
   */
  private startSessionRecording(verb: VerbOf<'Record'>, store: RecordingStore): Next {
    if (this.sessionRecording) {
      this.logger.warn('Record recordSession ignored: this call is already being recorded', { line: verb.line, recordingId: this.sessionRecording.id });
      return { kind: 'continue' };
    }
    const stereo = verb.recordChannelType === 'stereo';
    const sink = store.start(randomUUID(), stereo ? 2 : 1);
    this.sessionRecording = sink;
    const startMs = this.clock.wallNow();
    const mixed = new Int16Array(160);
    const stopTap = this.call.record((caller, played) => {
      if (stereo) { sink.writeStereo(caller, played); return; }
      for (let i = 0; i < mixed.length; i++) mixed[i] = Math.max(-32768, Math.min(32767, caller[i]! + played[i]!));
      sink.write(mixed);
    });
    this.logger.info('session recording started', { line: verb.line, recordingId: sink.id, channels: stereo ? 2 : 1 });
    const finish = async (): Promise<void> => {
      stopTap();
      const endMs = this.clock.wallNow();
      const stored = await this.storeRecording(sink, verb.line);
      const params = recordParams(sink, stored, startMs, endMs, '');
      if (verb.action) this.call.notify(verb.action, verb.method, params, 'record-action');
      if (stored && verb.callbackUrl) this.call.notify(verb.callbackUrl, verb.callbackMethod, params, 'record-callback');
    };
    if (this.call.signal.aborted) void finish();
    else this.call.signal.addEventListener('abort', () => void finish(), { once: true });
    return { kind: 'continue' };
  }

  /** Stores a finished recording; undefined (and a log line) when it could not be. Never throws. */
  private async storeRecording(sink: RecordingSink, line: number): Promise<FinishedRecording | undefined> {
    try {
      const stored = await sink.finish();
      this.logger.info('recording stored', { recordingId: sink.id, durationMs: Math.round(stored.durationMs), line });
      return stored;
    } catch (err) {
      this.logger.error('recording lost: it could not be stored', { recordingId: sink.id, line, error: (err as Error).message });
      return undefined;
    }
  }

  /**
   * The caller's input to the action URL. With redirect (the default) the answer replaces the
   * document, and a failed request ends the call with 8012; without, the document goes on.
   */
  private async submitInput(element: string, verb: { action: string; method: 'GET' | 'POST'; redirect: boolean }, params: Record<string, string>): Promise<Next> {
    const res = await this.call.fetchXml(verb.action, verb.method, params, 'action');
    if (this.call.signal.aborted) return { kind: 'end' };
    if (!verb.redirect) return { kind: 'continue' };
    if (!res.ok || res.xml === undefined) {
      this.call.hangup(causeFor(8012, 'Error', `${element} action ${verb.action} failed: ${res.cause ?? 'unknown'}`));
      return { kind: 'end' };
    }
    return { kind: 'replace', xml: res.xml, origin: 'action' };
  }
}

/** The parameters Record's action and callbackUrl get (RecordUrl empty when the file could not be stored). */
function recordParams(sink: RecordingSink, stored: FinishedRecording | undefined, startMs: number, endMs: number, digits: string): Record<string, string> {
  const ms = Math.round(stored?.durationMs ?? sink.durationMs);
  return {
    RecordUrl: stored?.url ?? '', RecordingID: sink.id,
    RecordingDuration: String(Math.round(ms / 1000)), RecordingDurationMs: String(ms),
    RecordingStartMs: String(Math.round(startMs)), RecordingEndMs: String(Math.round(endMs)),
    Digits: digits,
  };
}

/** A sine tone at -12 dBFS in 20 ms frames of 8 kHz samples (the beep of GetDigits playBeep). */
export function tone(hz: number, ms: number): FrameSource {
  let frames = Math.ceil(ms / 20);
  let phase = 0;
  const step = (2 * Math.PI * hz) / 8000;
  return {
    pullFrame: () => {
      if (frames-- <= 0) return null;
      const f = new Int16Array(160);
      for (let i = 0; i < f.length; i++, phase += step) f[i] = Math.round(8192 * Math.sin(phase));
      return f;
    },
  };
}

export function silence(ms: number): FrameSource {
  let frames = Math.ceil(ms / 20);
  const zero = new Int16Array(160);
  return { pullFrame: () => (frames-- > 0 ? zero : null) };
}

function abortPromise(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

export type { HangupCause };
