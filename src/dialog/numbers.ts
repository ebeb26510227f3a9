/**
 * Spoken numbers as ASR writes them ("oh three", "nineteen eighty one", "twenty first", "double five").
 * Hand-written: the npm word-to-number packages read one number per string and do not keep the spoken
 * grouping ("oh three" is two digits, "nineteen eighty one" is two groups), which dates and phone numbers need.
 */

export interface NumberAtom {
  value: number;
  /** How many digits the caller spoke ("oh three" -> 2, "three" -> 1, "nineteen" -> 2, "1981" -> 4). */
  digits: number;
  ordinal: boolean;
  /** Index of the first token of this atom in the token list. */
  start: number;
  /** Index one past the last token. */
  end: number;
}

const UNITS: Record<string, number> = {
  zero: 0, oh: 0, o: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9,
};
const TEENS: Record<string, number> = {
  ten: 10, eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17, eighteen: 18, nineteen: 19,
};
const TENS: Record<string, number> = {
  twenty: 20, thirty: 30, forty: 40, fourty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90,
};
const ORDINAL_UNITS: Record<string, number> = {
  first: 1, second: 2, third: 3, fourth: 4, fifth: 5, sixth: 6, seventh: 7, eighth: 8, ninth: 9,
};
const ORDINAL_TEENS: Record<string, number> = {
  tenth: 10, eleventh: 11, twelfth: 12, thirteenth: 13, fourteenth: 14, fifteenth: 15, sixteenth: 16, seventeenth: 17,
  eighteenth: 18, nineteenth: 19,
};
const ORDINAL_TENS: Record<string, number> = { twentieth: 20, thirtieth: 30 };

/** Lower-cases and splits into words and numerals ("3rd" stays one token; "/", "-" and "," separate). */
export function tokenize(text: string): string[] {
  return text.toLowerCase().replace(/[’']/g, '').split(/[^a-z0-9]+/).filter((token) => token.length > 0);
}

/** Every number the caller spoke, in order, keeping the spoken grouping. */
export function numberAtoms(tokens: readonly string[]): NumberAtom[] {
  const atoms: NumberAtom[] = [];
  let i = 0;
  while (i < tokens.length) {
    const token = tokens[i]!;
    const next = tokens[i + 1];
    // "double five" -> 5 5, "triple oh" -> 0 0 0.
    if ((token === 'double' || token === 'triple') && next !== undefined && next in UNITS) {
      const count = token === 'double' ? 2 : 3;
      for (let k = 0; k < count; k++) atoms.push({ value: UNITS[next]!, digits: 1, ordinal: false, start: i, end: i + 2 });
      i += 2;
      continue;
    }
    const numeral = /^(\d+)(st|nd|rd|th)?$/.exec(token);
    let atom: NumberAtom | undefined;
    if (numeral) {
      atom = { value: Number(numeral[1]), digits: numeral[1]!.length, ordinal: numeral[2] !== undefined, start: i, end: i + 1 };
    } else if (token in UNITS && !(token === 'o' && !isNumberToken(next) && !isNumberToken(tokens[i - 1]))) {
      atom = { value: UNITS[token]!, digits: 1, ordinal: false, start: i, end: i + 1 };
    } else if (token in TEENS) {
      atom = { value: TEENS[token]!, digits: 2, ordinal: false, start: i, end: i + 1 };
    } else if (token in ORDINAL_UNITS) {
      atom = { value: ORDINAL_UNITS[token]!, digits: 1, ordinal: true, start: i, end: i + 1 };
    } else if (token in ORDINAL_TEENS) {
      atom = { value: ORDINAL_TEENS[token]!, digits: 2, ordinal: true, start: i, end: i + 1 };
    } else if (token in ORDINAL_TENS) {
      atom = { value: ORDINAL_TENS[token]!, digits: 2, ordinal: true, start: i, end: i + 1 };
    } else if (token in TENS) {
      atom = { value: TENS[token]!, digits: 2, ordinal: false, start: i, end: i + 1 };
      // "eighty one", "twenty first"; "oh" never follows a tens word as a unit.
      if (next !== undefined && next in UNITS && UNITS[next]! > 0) {
        atom.value += UNITS[next]!;
        atom.end = i + 2;
      } else if (next !== undefined && next in ORDINAL_UNITS) {
        atom.value += ORDINAL_UNITS[next]!;
        atom.ordinal = true;
        atom.end = i + 2;
      }
    }
    if (!atom) {
      // "nineteen hundred", "two thousand and five" scale the number just before.
      const previous = atoms[atoms.length - 1];
      if ((token === 'hundred' || token === 'thousand') && previous && previous.end === i && !previous.ordinal) {
        previous.value *= token === 'hundred' ? 100 : 1000;
        previous.digits = String(previous.value).length;
        previous.end = i + 1;
        let j = i + 1;
        if (tokens[j] === 'and') j++;
        const rest = numberAtoms(tokens.slice(j, j + 2)).filter((a) => a.start === 0);
        const tail = rest[0];
        const limit = token === 'hundred' ? 100 : 1000;
        if (tail && tail.value < limit && !(tail.value === 0 && tail.digits === 1)) {
          previous.value += tail.value;
          previous.ordinal = tail.ordinal;
          previous.end = j + tail.end;
        }
        i = previous.end;
        continue;
      }
      i++;
      continue;
    }
    atoms.push(atom);
    i = atom.end;
  }
  return atoms;
}

function isNumberToken(token: string | undefined): boolean {
  if (token === undefined) return false;
  return /^\d/.test(token) || (token in UNITS && token !== 'o') || token in TEENS || token in TENS;
}

/** The digits a caller spoke, as a string: "five five five twelve thirty four" -> "5551234". */
export function spokenDigits(text: string): string {
  return numberAtoms(tokenize(text)).map((atom) => String(atom.value).padStart(atom.digits, '0')).join('');
}

/** A single number: "twenty three" -> 23, "the third" -> 3, "12" -> 12; undefined when none or several. */
export function parseSpokenNumber(text: string): number | undefined {
  const atoms = numberAtoms(tokenize(text));
  return atoms.length === 1 ? atoms[0]!.value : undefined;
}

/**
 * Joins "oh"/"zero" with the digit after it ("oh three" -> 03), as callers say months, days and the
 * decade of a year ("nineteen oh five").
 */
export function mergeLeadingZeros(atoms: readonly NumberAtom[]): NumberAtom[] {
  const out: NumberAtom[] = [];
  for (let i = 0; i < atoms.length; i++) {
    const atom = atoms[i]!;
    const next = atoms[i + 1];
    if (atom.value === 0 && atom.digits === 1 && next && next.digits === 1 && next.end - next.start === 1 && next.start === atom.end) {
      out.push({ value: next.value, digits: 2, ordinal: next.ordinal, start: atom.start, end: next.end });
      i++;
    } else {
      out.push({ ...atom });
    }
  }
  return out;
}
