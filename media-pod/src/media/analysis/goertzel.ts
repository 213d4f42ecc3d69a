/**
 * The two measurements the pod's tone detectors (in-band DTMF, voicemail beeps) and its sound
 * detector take of a 20 ms frame: its energy, and the power of one frequency in it.
 */

/** Σ x² over the frame. */
export function frameEnergy(pcm: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i]! * pcm[i]!;
  return sum;
}

/** The Goertzel coefficient 2·cos(2πf/rate) of frequency `hz`. */
export function goertzelCoefficient(hz: number, rate: number): number {
  return 2 * Math.cos((2 * Math.PI * hz) / rate);
}

/**
 * |X(f)|² of the frame at the frequency of `coeff` (Goertzel). A sine of amplitude A at f over n
 * samples gives about (A·n/2)², while its energy is A²·n/2.
 */
export function goertzelPower(pcm: Int16Array, coeff: number): number {
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < pcm.length; i++) {
    const s0 = pcm[i]! + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - coeff * s1 * s2;
}
