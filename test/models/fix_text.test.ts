// ftfy.fix_text behaviours beyond the golden tokenizer cases (expected values follow
// ftfy 6.1.1's fixers; numeric references follow CPython's html.unescape).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixText, whitespaceClean } from '../../companion/models/fix_text.ts';

const cases: Array<[string, string, string]> = [
  ['curly quotes and the modifier apostrophe', '\u201chere\u2019s\u201d \u02bcx', '"here\'s" \'x'],
  ['named entities, all-caps variants, double escaping', 'a &amp; b &EACUTE; &amp;lt; &hellip;', 'a & b É < …'],
  ['unknown entity left alone', '&bogus; &#xZZ;', '&bogus; &#xZZ;'],
  ['numeric references as html.unescape', '&#65;&#x42;&#150;&#0;&#x1F600;&#1;', 'AB–\ufffd😀'],
  ['no unescaping on a line with "<" nor after it', 'x &amp;\n<b> &amp;\n&amp;', 'x &\n<b> &amp;\n&amp;'],
  ['C1 controls read as Windows-1252', 'a\x85b \x93q\x94', 'a…b "q"'],
  ['Latin ligatures', '\ufb01ne \ufb02ow', 'fine flow'],
  ['full-width characters', '\uff21\uff22\uff23\uff11\u3000\uff01', 'ABC1 !'],
  ['terminal escapes and control characters removed', '\x1b[31mred\x1b[0m\x00\x07\ufeffok', 'redok'],
  ['line breaks unified', 'a\r\nb\rc\u2028d', 'a\nb\nc\nd'],
  ['NFC composition', 'e\u0301', '\u00e9'],
];

for (const [what, input, want] of cases) {
  test(`fixText: ${what}`, () => assert.equal(fixText(input), want));
}

test('whitespaceClean uses Python\'s whitespace set', () => {
  assert.equal(whitespaceClean(' \t a\u00a0\u3000b\x1c\x85c \n'), 'a b c');
  assert.equal(whitespaceClean('a\ufeffb'), 'a\ufeffb'); // U+FEFF is not whitespace in Python
});
