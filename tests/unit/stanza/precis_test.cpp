#include "stanza/precis.h"

#include <catch2/catch.hpp>

using namespace corvid::stanza::precis;

TEST_CASE("derived properties follow RFC 8264 §9", "[stanza]") {
    struct Case {
        char32_t cp;
        DerivedProperty expected;
        const char* why;
    };
    const Case cases[] = {
        {U'a', DerivedProperty::Pvalid, "ASCII7"},
        {U'A', DerivedProperty::Pvalid, "ASCII7 (case mapping is a profile rule)"},
        {U'!', DerivedProperty::Pvalid, "ASCII7"},
        {U'~', DerivedProperty::Pvalid, "ASCII7"},
        {0x20, DerivedProperty::IdDisFreePval, "Spaces"},
        {0x00, DerivedProperty::Disallowed, "Controls"},
        {0x09, DerivedProperty::Disallowed, "Controls"},
        {0x7F, DerivedProperty::Disallowed, "Controls"},
        {0x85, DerivedProperty::Disallowed, "Controls"},
        {0xA0, DerivedProperty::IdDisFreePval, "HasCompat (NO-BREAK SPACE)"},
        {0xA1, DerivedProperty::IdDisFreePval, "Punctuation"},
        {0xAD, DerivedProperty::Disallowed, "PrecisIgnorable (SOFT HYPHEN)"},
        {0xB7, DerivedProperty::ContextO, "Exceptions (MIDDLE DOT)"},
        {0xDF, DerivedProperty::Pvalid, "Exceptions (ß)"},
        {0xE9, DerivedProperty::Pvalid, "LetterDigits"},
        {0x0130, DerivedProperty::Pvalid, "LetterDigits (Lu)"},
        {0x01C5, DerivedProperty::IdDisFreePval, "HasCompat (Lt)"},
        {0x0300, DerivedProperty::Pvalid, "LetterDigits (Mn)"},
        {0x0375, DerivedProperty::ContextO, "Exceptions (KERAIA)"},
        {0x0378, DerivedProperty::Unassigned, "Unassigned"},
        {0x03C2, DerivedProperty::Pvalid, "Exceptions (final sigma)"},
        {0x0640, DerivedProperty::Disallowed, "Exceptions (TATWEEL)"},
        {0x0660, DerivedProperty::ContextO, "Exceptions (ARABIC-INDIC DIGIT ZERO)"},
        {0x06F9, DerivedProperty::ContextO, "Exceptions (EXTENDED ARABIC-INDIC NINE)"},
        {0x0F0B, DerivedProperty::Pvalid, "Exceptions (TIBETAN TSHEG)"},
        {0x1100, DerivedProperty::Disallowed, "OldHangulJamo"},
        {0x11A8, DerivedProperty::Disallowed, "OldHangulJamo (trailing)"},
        {0x200B, DerivedProperty::Disallowed, "PrecisIgnorable (ZERO WIDTH SPACE, Cf)"},
        {0x200C, DerivedProperty::ContextJ, "JoinControl"},
        {0x200D, DerivedProperty::ContextJ, "JoinControl"},
        {0x2028, DerivedProperty::Disallowed, "LINE SEPARATOR (Zl)"},
        {0x20AC, DerivedProperty::IdDisFreePval, "Symbols (Sc)"},
        {0x2163, DerivedProperty::IdDisFreePval, "HasCompat (ROMAN NUMERAL FOUR)"},
        {0x265A, DerivedProperty::IdDisFreePval, "Symbols (So)"},
        {0x3000, DerivedProperty::IdDisFreePval, "HasCompat (IDEOGRAPHIC SPACE)"},
        {0x3007, DerivedProperty::Pvalid, "Exceptions"},
        {0x302E, DerivedProperty::Disallowed, "Exceptions"},
        {0x30FB, DerivedProperty::ContextO, "Exceptions (KATAKANA MIDDLE DOT)"},
        {0xAC00, DerivedProperty::Pvalid, "LetterDigits (Hangul syllable)"},
        {0xE000, DerivedProperty::Disallowed, "private use"},
        {0xFB01, DerivedProperty::IdDisFreePval, "HasCompat (ﬁ)"},
        {0xFDD0, DerivedProperty::Disallowed, "PrecisIgnorable (noncharacter)"},
        {0xFF21, DerivedProperty::IdDisFreePval, "HasCompat (fullwidth A)"},
        {0xFFFE, DerivedProperty::Disallowed, "PrecisIgnorable (noncharacter)"},
        {0x1F600, DerivedProperty::IdDisFreePval, "Symbols (emoji)"},
        {0x10FFFF, DerivedProperty::Disallowed, "PrecisIgnorable (noncharacter)"},
        {0xE0001, DerivedProperty::Disallowed, "PrecisIgnorable (LANGUAGE TAG)"},
        {0xD800, DerivedProperty::Disallowed, "surrogate"},
        {0x110000, DerivedProperty::Disallowed, "beyond Unicode"},
    };
    for (const auto& c : cases) {
        INFO("U+" << std::hex << static_cast<unsigned>(c.cp) << " " << c.why);
        CHECK(toString(derivedProperty(c.cp)) == toString(c.expected));
    }
}

TEST_CASE("strict UTF-8 decoding", "[stanza]") {
    CHECK(decodeUtf8("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80") ==
          std::u32string(U"a\u00E9\u20AC\U0001F600"));
    CHECK(decodeUtf8("") == std::u32string());
    CHECK(decodeUtf8("\xEF\xBF\xBF") == std::u32string(U"\uFFFF"));
    CHECK(decodeUtf8("\xF4\x8F\xBF\xBF") == std::u32string(U"\U0010FFFF"));
    for (const char* bad : {"\xC0\x80", "\xC1\xBF", "\xE0\x9F\xBF", "\xED\xA0\x80", "\xED\xBF\xBF",
                            "\xF0\x8F\xBF\xBF", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xC3",
                            "\xE2\x82", "\xBF", "\xFE", "\xC3\xC3"}) {
        CHECK_FALSE(decodeUtf8(bad).has_value());
    }
    std::u32string all;
    for (char32_t cp = 0; cp <= 0x10FFFF; cp += 0x101) {
        if (cp < 0xD800 || cp > 0xDFFF) {
            all.push_back(cp);
        }
    }
    CHECK(decodeUtf8(encodeUtf8(all)) == all);
}

TEST_CASE("string classes and contextual rules", "[stanza]") {
    Failure f{FailureCode::Disallowed};
    CHECK(checkStringClass(U"abc", StringClass::Identifier, f));
    CHECK_FALSE(checkStringClass(U"a b", StringClass::Identifier, f));
    CHECK(f.code == FailureCode::Disallowed);
    CHECK(f.codePoint == U' ');
    CHECK(checkStringClass(U"a b", StringClass::Freeform, f));
    CHECK_FALSE(checkStringClass(U"a\u0378", StringClass::Freeform, f));
    // Arabic-Indic and extended Arabic-Indic digits may not be mixed (RFC 5892 A.8, A.9).
    CHECK(checkStringClass(U"\u0660\u0661", StringClass::Identifier, f));
    CHECK(checkStringClass(U"\u06F0\u06F1", StringClass::Identifier, f));
    CHECK_FALSE(checkStringClass(U"\u0660\u06F1", StringClass::Identifier, f));
    CHECK(f.code == FailureCode::ContextRule);
    // Hebrew geresh after a Hebrew letter only (A.5).
    CHECK(checkStringClass(U"\u05D0\u05F3", StringClass::Identifier, f));
    CHECK_FALSE(checkStringClass(U"a\u05F3", StringClass::Identifier, f));
    CHECK_FALSE(checkStringClass(U"\u05F3", StringClass::Identifier, f));
    // MIDDLE DOT at the edges.
    CHECK_FALSE(checkStringClass(U"\u00B7l", StringClass::Freeform, f));
    CHECK_FALSE(checkStringClass(U"l\u00B7", StringClass::Freeform, f));
    // ZWNJ with transparent marks between the joining letters (A.1 regular expression).
    CHECK(checkStringClass(U"\u0628\u064E\u200C\u064E\u0628", StringClass::Identifier, f));
    CHECK_FALSE(checkStringClass(U"\u0628\u200C", StringClass::Identifier, f));
    CHECK_FALSE(checkStringClass(U"\u200C\u0628", StringClass::Identifier, f));
}

TEST_CASE("Bidi Rule (RFC 5893 §2)", "[stanza]") {
    CHECK(passesBidiRule(U"abc"));            // no RTL code point: untouched
    CHECK(passesBidiRule(U"a1-"));            // even though it would not pass as an LTR label
    CHECK(passesBidiRule(U"\u05D0\u05D1"));   // R R
    CHECK(passesBidiRule(U"\u0627\u0661"));   // AL AN
    CHECK(passesBidiRule(U"\u05D0\u05B0"));   // R NSM at the end
    CHECK(passesBidiRule(U"\u05D0-\u05D1"));  // ES inside
    CHECK_FALSE(passesBidiRule(U"\u0661"));   // AN first
    CHECK_FALSE(passesBidiRule(U"a\u05D0"));  // L first in an RTL string
    CHECK_FALSE(passesBidiRule(U"\u05D0a"));  // L inside an RTL string
    CHECK_FALSE(passesBidiRule(U"\u05D0-"));  // ends with ES
    CHECK_FALSE(
        passesBidiRule(U"\u0627"
                       "1\u0661"));  // EN and AN together
}

TEST_CASE("profile mappings", "[stanza]") {
    // UsernameCaseMapped: width mapping, lower case, NFC.
    CHECK(*enforceUsernameCaseMapped("\xEF\xBC\xA1\xEF\xBD\x82") == "ab");
    CHECK(*enforceUsernameCaseMapped("\xE2\x84\xAB") == "\xC3\xA5");  // U+212B ANGSTROM -> å
    CHECK(*enforceUsernameCaseMapped("A\xCC\x8A") == "\xC3\xA5");     // A + ring -> å
    CHECK(enforceUsernameCaseMapped("\xC3").error().code == FailureCode::InvalidUtf8);
    CHECK(enforceUsernameCaseMapped("").error().code == FailureCode::Empty);
    CHECK(enforceUsernameCaseMapped("a\xD7\x90").error().code == FailureCode::BidiRule);
    auto bad = enforceUsernameCaseMapped("x\xE2\x99\x9A");
    CHECK(bad.error().code == FailureCode::Disallowed);
    CHECK(bad.error().codePoint == 0x265A);
    // OpaqueString: no case or width mapping, non-ASCII spaces become U+0020.
    CHECK(*enforceOpaqueString("Ab\xE2\x80\x83"
                               "C") == "Ab C");  // EM SPACE
    CHECK(*enforceOpaqueString("\xEF\xBD\xB6\xEF\xBE\x9E") == "\xEF\xBD\xB6\xEF\xBE\x9E");
    CHECK(enforceOpaqueString("a\xE2\x80\x8B").error().code == FailureCode::Disallowed);  // ZWSP
    // mapWidthLowerNfc: halfwidth katakana KA + voiced mark compose to GA.
    CHECK(mapWidthLowerNfc(U"\uFF76\uFF9E") == std::u32string(U"\u30AC"));
}
