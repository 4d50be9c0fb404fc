// Named HTML character references that ftfy.fix_text (6.1.1) decodes, restricted to the
// HTML 4 set (the 252 names of Python's html.entities.name2codepoint, with the HTML5 values),
// plus ftfy's all-caps variants (`&EACUTE;` -> "É"). The full HTML5 table has 2,231 names;
// prompts use only the common ones, and an unknown name is left as written, as ftfy does.
// Generated with CPython's html.entities: name:hex code points (dot-separated when several).
const PACKED = `
AACUTE:c1 ACIRC:c2 ACUTE:b4 AELIG:c6 AElig:c6 AGRAVE:c0 ALEFSYM:2135 ALPHA:391 AMP:26 AND:2227
ANG:2220 ARING:c5 ASYMP:2248 ATILDE:c3 AUML:c4 Aacute:c1 Acirc:c2 Agrave:c0 Alpha:391 Aring:c5
Atilde:c3 Auml:c4 BDQUO:201e BETA:392 BRVBAR:a6 BULL:2022 Beta:392 CAP:2229 CCEDIL:c7 CEDIL:b8
CENT:a2 CHI:3a7 CIRC:2c6 CLUBS:2663 CONG:2245 COPY:a9 CRARR:21b5 CUP:222a CURREN:a4 Ccedil:c7
Chi:3a7 DAGGER:2020 DARR:2193 DEG:b0 DELTA:394 DIAMS:2666 DIVIDE:f7 Dagger:2021 Delta:394
EACUTE:c9 ECIRC:ca EGRAVE:c8 EMPTY:2205 EMSP:2003 ENSP:2002 EPSILON:395 EQUIV:2261 ETA:397
ETH:d0 EUML:cb EURO:20ac EXIST:2203 Eacute:c9 Ecirc:ca Egrave:c8 Epsilon:395 Eta:397 Euml:cb
FNOF:191 FORALL:2200 FRAC12:bd FRAC14:bc FRAC34:be FRASL:2044 GAMMA:393 GE:2265 GT:3e Gamma:393
HARR:2194 HEARTS:2665 HELLIP:2026 IACUTE:cd ICIRC:ce IEXCL:a1 IGRAVE:cc IMAGE:2111 INFIN:221e
INT:222b IOTA:399 IQUEST:bf ISIN:2208 IUML:cf Iacute:cd Icirc:ce Igrave:cc Iota:399 Iuml:cf
KAPPA:39a Kappa:39a LAMBDA:39b LANG:27e8 LAQUO:ab LARR:2190 LCEIL:2308 LDQUO:201c LE:2264
LFLOOR:230a LOWAST:2217 LOZ:25ca LRM:200e LSAQUO:2039 LSQUO:2018 LT:3c Lambda:39b MACR:af
MDASH:2014 MICRO:39c MIDDOT:b7 MINUS:2212 MU:39c Mu:39c NABLA:2207 NBSP:a0 NDASH:2013 NE:2260
NI:220b NOT:ac NOTIN:2209 NSUB:2284 NTILDE:d1 NU:39d Ntilde:d1 Nu:39d OACUTE:d3 OCIRC:d4
OELIG:152 OElig:152 OGRAVE:d2 OLINE:203e OMEGA:3a9 OMICRON:39f OPLUS:2295 OR:2228 ORDF:aa
ORDM:ba OSLASH:d8 OTILDE:d5 OTIMES:2297 OUML:d6 Oacute:d3 Ocirc:d4 Ograve:d2 Omega:3a9
Omicron:39f Oslash:d8 Otilde:d5 Ouml:d6 PARA:b6 PART:2202 PERMIL:2030 PERP:22a5 PHI:3a6 PI:3a0
PIV:3a0 PLUSMN:b1 POUND:a3 PRIME:2032 PROD:220f PROP:221d PSI:3a8 Phi:3a6 Pi:3a0 Prime:2033
Psi:3a8 QUOT:22 RADIC:221a RANG:27e9 RAQUO:bb RARR:2192 RCEIL:2309 RDQUO:201d REAL:211c REG:ae
RFLOOR:230b RHO:3a1 RLM:200f RSAQUO:203a RSQUO:2019 Rho:3a1 SBQUO:201a SCARON:160 SDOT:22c5
SECT:a7 SHY:ad SIGMA:3a3 SIGMAF:3a3 SIM:223c SPADES:2660 SUB:2282 SUBE:2286 SUM:2211 SUP:2283
SUP1:b9 SUP2:b2 SUP3:b3 SUPE:2287 SZLIG:53.53 Scaron:160 Sigma:3a3 TAU:3a4 THERE4:2234 THETA:398
THETASYM:398 THINSP:2009 THORN:de TILDE:2dc TIMES:d7 TRADE:2122 Tau:3a4 Theta:398 UACUTE:da
UARR:2191 UCIRC:db UGRAVE:d9 UML:a8 UPSIH:3d2 UPSILON:3a5 UUML:dc Uacute:da Ucirc:db Ugrave:d9
Upsilon:3a5 Uuml:dc WEIERP:2118 XI:39e Xi:39e YACUTE:dd YEN:a5 YUML:178 Yacute:dd Yuml:178
ZETA:396 ZWJ:200d ZWNJ:200c Zeta:396 aacute:e1 acirc:e2 acute:b4 aelig:e6 agrave:e0 alefsym:2135
alpha:3b1 amp:26 and:2227 ang:2220 aring:e5 asymp:2248 atilde:e3 auml:e4 bdquo:201e beta:3b2
brvbar:a6 bull:2022 cap:2229 ccedil:e7 cedil:b8 cent:a2 chi:3c7 circ:2c6 clubs:2663 cong:2245
copy:a9 crarr:21b5 cup:222a curren:a4 dArr:21d3 dagger:2020 darr:2193 deg:b0 delta:3b4
diams:2666 divide:f7 eacute:e9 ecirc:ea egrave:e8 empty:2205 emsp:2003 ensp:2002 epsilon:3b5
equiv:2261 eta:3b7 eth:f0 euml:eb euro:20ac exist:2203 fnof:192 forall:2200 frac12:bd frac14:bc
frac34:be frasl:2044 gamma:3b3 ge:2265 gt:3e hArr:21d4 harr:2194 hearts:2665 hellip:2026
iacute:ed icirc:ee iexcl:a1 igrave:ec image:2111 infin:221e int:222b iota:3b9 iquest:bf
isin:2208 iuml:ef kappa:3ba lArr:21d0 lambda:3bb lang:27e8 laquo:ab larr:2190 lceil:2308
ldquo:201c le:2264 lfloor:230a lowast:2217 loz:25ca lrm:200e lsaquo:2039 lsquo:2018 lt:3c
macr:af mdash:2014 micro:b5 middot:b7 minus:2212 mu:3bc nabla:2207 nbsp:a0 ndash:2013 ne:2260
ni:220b not:ac notin:2209 nsub:2284 ntilde:f1 nu:3bd oacute:f3 ocirc:f4 oelig:153 ograve:f2
oline:203e omega:3c9 omicron:3bf oplus:2295 or:2228 ordf:aa ordm:ba oslash:f8 otilde:f5
otimes:2297 ouml:f6 para:b6 part:2202 permil:2030 perp:22a5 phi:3c6 pi:3c0 piv:3d6 plusmn:b1
pound:a3 prime:2032 prod:220f prop:221d psi:3c8 quot:22 rArr:21d2 radic:221a rang:27e9 raquo:bb
rarr:2192 rceil:2309 rdquo:201d real:211c reg:ae rfloor:230b rho:3c1 rlm:200f rsaquo:203a
rsquo:2019 sbquo:201a scaron:161 sdot:22c5 sect:a7 shy:ad sigma:3c3 sigmaf:3c2 sim:223c
spades:2660 sub:2282 sube:2286 sum:2211 sup:2283 sup1:b9 sup2:b2 sup3:b3 supe:2287 szlig:df
tau:3c4 there4:2234 theta:3b8 thetasym:3d1 thinsp:2009 thorn:fe tilde:2dc times:d7 trade:2122
uArr:21d1 uacute:fa uarr:2191 ucirc:fb ugrave:f9 uml:a8 upsih:3d2 upsilon:3c5 uuml:fc
weierp:2118 xi:3be yacute:fd yen:a5 yuml:ff zeta:3b6 zwj:200d zwnj:200c`;

/** `&name;` -> decoded text. */
export const HTML_ENTITIES: ReadonlyMap<string, string> = new Map(
  PACKED.trim()
    .split(/\s+/)
    .map((item) => {
      const [name, hex] = item.split(':');
      const text = String.fromCodePoint(...hex.split('.').map((h) => parseInt(h, 16)));
      return [`&${name};`, text] as const;
    }),
);
