#include "stanza/precis.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/uscript.h>
#include <unicode/utf16.h>

#include <cstdio>
#include <cstdlib>

namespace corvid::stanza::precis {

namespace {

// ICU only fails here when its data is missing: an environment failure that cannot be handled.
void checkIcu(UErrorCode err, const char* what) {
    if (U_FAILURE(err)) {
        std::fprintf(stderr, "corvid: ICU failure in %s: %s\n", what, u_errorName(err));
        std::abort();
    }
}

const icu::Normalizer2& nfc() {
    static const icu::Normalizer2* instance = [] {
        UErrorCode err = U_ZERO_ERROR;
        const icu::Normalizer2* n = icu::Normalizer2::getNFCInstance(err);
        checkIcu(err, "getNFCInstance");
        return n;
    }();
    return *instance;
}

const icu::Normalizer2& nfkc() {
    static const icu::Normalizer2* instance = [] {
        UErrorCode err = U_ZERO_ERROR;
        const icu::Normalizer2* n = icu::Normalizer2::getNFKCInstance(err);
        checkIcu(err, "getNFKCInstance");
        return n;
    }();
    return *instance;
}

icu::UnicodeString toIcu(std::u32string_view s) {
    icu::UnicodeString out;
    for (char32_t cp : s) {
        out.append(static_cast<UChar32>(cp));
    }
    return out;
}

std::u32string fromIcu(const icu::UnicodeString& s) {
    std::u32string out;
    out.reserve(static_cast<std::size_t>(s.length()));
    for (int32_t i = 0; i < s.length();) {
        UChar32 c = s.char32At(i);
        out.push_back(static_cast<char32_t>(c));
        i += U16_LENGTH(c);
    }
    return out;
}

std::u32string normalizeNfc(std::u32string_view s) {
    UErrorCode err = U_ZERO_ERROR;
    icu::UnicodeString n = nfc().normalize(toIcu(s), err);
    checkIcu(err, "NFC");
    return fromIcu(n);
}

// RFC 5892 §2.6 (Exceptions, F), which RFC 8264 §9.6 reuses unchanged.
std::optional<DerivedProperty> exceptionProperty(char32_t cp) {
    switch (cp) {
        case 0x00DF:
        case 0x03C2:
        case 0x06FD:
        case 0x06FE:
        case 0x0F0B:
        case 0x3007:
            return DerivedProperty::Pvalid;
        case 0x00B7:
        case 0x0375:
        case 0x05F3:
        case 0x05F4:
        case 0x30FB:
            return DerivedProperty::ContextO;
        case 0x0640:
        case 0x07FA:
        case 0x302E:
        case 0x302F:
        case 0x3031:
        case 0x3032:
        case 0x3033:
        case 0x3034:
        case 0x3035:
        case 0x303B:
            return DerivedProperty::Disallowed;
        default:
            break;
    }
    if ((cp >= 0x0660 && cp <= 0x0669) || (cp >= 0x06F0 && cp <= 0x06F9)) {
        return DerivedProperty::ContextO;
    }
    return std::nullopt;
}

// RFC 8264 §9.14: HasCompat (Q) is toNFKC(cp) != cp.
bool hasCompat(char32_t cp) {
    UErrorCode err = U_ZERO_ERROR;
    bool normalized = nfkc().isNormalized(icu::UnicodeString(static_cast<UChar32>(cp)), err);
    checkIcu(err, "NFKC check");
    return !normalized;
}

int joiningType(char32_t cp) {
    return u_getIntPropertyValue(static_cast<UChar32>(cp), UCHAR_JOINING_TYPE);
}

UScriptCode scriptOf(char32_t cp) {
    UErrorCode err = U_ZERO_ERROR;
    UScriptCode sc = uscript_getScript(static_cast<UChar32>(cp), &err);
    return U_FAILURE(err) ? USCRIPT_INVALID_CODE : sc;
}

constexpr uint8_t kVirama = 9;  // Canonical_Combining_Class value of viramas

bool afterVirama(std::u32string_view s, std::size_t i) {
    return i > 0 && u_getCombiningClass(static_cast<UChar32>(s[i - 1])) == kVirama;
}

// The contextual rules of RFC 5892 Appendix A, for the code point at s[i].
bool contextRuleHolds(std::u32string_view s, std::size_t i) {
    const char32_t cp = s[i];
    switch (cp) {
        case 0x200C: {  // A.1 ZERO WIDTH NON-JOINER
            if (afterVirama(s, i)) {
                return true;
            }
            // (Joining_Type:{L,D})(Joining_Type:T)*\u200C(Joining_Type:T)*(Joining_Type:{R,D})
            bool left = false;
            for (std::size_t j = i; j-- > 0;) {
                int jt = joiningType(s[j]);
                if (jt == U_JT_TRANSPARENT) {
                    continue;
                }
                left = jt == U_JT_LEFT_JOINING || jt == U_JT_DUAL_JOINING;
                break;
            }
            if (!left) {
                return false;
            }
            for (std::size_t j = i + 1; j < s.size(); ++j) {
                int jt = joiningType(s[j]);
                if (jt == U_JT_TRANSPARENT) {
                    continue;
                }
                return jt == U_JT_RIGHT_JOINING || jt == U_JT_DUAL_JOINING;
            }
            return false;
        }
        case 0x200D:  // A.2 ZERO WIDTH JOINER
            return afterVirama(s, i);
        case 0x00B7:  // A.3 MIDDLE DOT: only between two 'l' (Catalan l·l)
            return i > 0 && i + 1 < s.size() && s[i - 1] == U'l' && s[i + 1] == U'l';
        case 0x0375:  // A.4 GREEK LOWER NUMERAL SIGN (KERAIA)
            return i + 1 < s.size() && scriptOf(s[i + 1]) == USCRIPT_GREEK;
        case 0x05F3:  // A.5 HEBREW PUNCTUATION GERESH
        case 0x05F4:  // A.6 HEBREW PUNCTUATION GERSHAYIM
            return i > 0 && scriptOf(s[i - 1]) == USCRIPT_HEBREW;
        case 0x30FB:  // A.7 KATAKANA MIDDLE DOT
            for (char32_t c : s) {
                UScriptCode sc = scriptOf(c);
                if (c != 0x30FB &&
                    (sc == USCRIPT_HIRAGANA || sc == USCRIPT_KATAKANA || sc == USCRIPT_HAN)) {
                    return true;
                }
            }
            return false;
        default:
            break;
    }
    if (cp >= 0x0660 && cp <= 0x0669) {  // A.8 ARABIC-INDIC DIGITS
        for (char32_t c : s) {
            if (c >= 0x06F0 && c <= 0x06F9) {
                return false;
            }
        }
        return true;
    }
    if (cp >= 0x06F0 && cp <= 0x06F9) {  // A.9 EXTENDED ARABIC-INDIC DIGITS
        for (char32_t c : s) {
            if (c >= 0x0660 && c <= 0x0669) {
                return false;
            }
        }
        return true;
    }
    return false;  // a contextual code point without a rule is never allowed (RFC 5892 §2.7)
}

// RFC 8264 §7: apply the rules until the result no longer changes, at most three times more
// than the first application; a string that does not settle is rejected.
template <typename Rules>
std::expected<std::u32string, Failure> applyUntilStable(std::u32string_view in, Rules rules) {
    std::u32string out = rules(in);
    for (int i = 0; i < 3; ++i) {
        std::u32string next = rules(out);
        if (next == out) {
            return out;
        }
        out = std::move(next);
    }
    return std::unexpected(Failure{FailureCode::Unstable});
}

}  // namespace

std::string_view toString(DerivedProperty p) {
    switch (p) {
        case DerivedProperty::Pvalid:
            return "PVALID";
        case DerivedProperty::IdDisFreePval:
            return "ID_DIS or FREE_PVAL";
        case DerivedProperty::ContextJ:
            return "CONTEXTJ";
        case DerivedProperty::ContextO:
            return "CONTEXTO";
        case DerivedProperty::Disallowed:
            return "DISALLOWED";
        case DerivedProperty::Unassigned:
            return "UNASSIGNED";
    }
    return "?";
}

DerivedProperty derivedProperty(char32_t cp) {
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return DerivedProperty::Disallowed;  // not scalar values: never in a decoded string
    }
    const auto c = static_cast<UChar32>(cp);
    // The order of the tests is the algorithm of RFC 8264 §9; each test wins over the later ones.
    if (auto e = exceptionProperty(cp)) {  // F: Exceptions
        return *e;
    }
    // G: BackwardCompatible is empty in RFC 8264.
    const bool noncharacter = u_hasBinaryProperty(c, UCHAR_NONCHARACTER_CODE_POINT);
    const auto gc = static_cast<UCharCategory>(u_charType(c));
    if (gc == U_UNASSIGNED && !noncharacter) {  // J: Unassigned
        return DerivedProperty::Unassigned;
    }
    if (cp >= 0x21 && cp <= 0x7E) {  // K: ASCII7
        return DerivedProperty::Pvalid;
    }
    if (u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL)) {  // H: JoinControl
        return DerivedProperty::ContextJ;
    }
    const int hst = u_getIntPropertyValue(c, UCHAR_HANGUL_SYLLABLE_TYPE);
    if (hst == U_HST_LEADING_JAMO || hst == U_HST_VOWEL_JAMO ||
        hst == U_HST_TRAILING_JAMO) {  // I: OldHangulJamo
        return DerivedProperty::Disallowed;
    }
    if (noncharacter ||
        u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT)) {  // M: PrecisIgnorable
        return DerivedProperty::Disallowed;
    }
    if (gc == U_CONTROL_CHAR) {  // L: Controls
        return DerivedProperty::Disallowed;
    }
    if (hasCompat(cp)) {  // Q: HasCompat
        return DerivedProperty::IdDisFreePval;
    }
    switch (gc) {
        // A: LetterDigits
        case U_LOWERCASE_LETTER:
        case U_UPPERCASE_LETTER:
        case U_OTHER_LETTER:
        case U_DECIMAL_DIGIT_NUMBER:
        case U_MODIFIER_LETTER:
        case U_NON_SPACING_MARK:
        case U_COMBINING_SPACING_MARK:
            return DerivedProperty::Pvalid;
        // R: OtherLetterDigits
        case U_TITLECASE_LETTER:
        case U_LETTER_NUMBER:
        case U_OTHER_NUMBER:
        case U_ENCLOSING_MARK:
        // N: Spaces
        case U_SPACE_SEPARATOR:
        // O: Symbols
        case U_MATH_SYMBOL:
        case U_CURRENCY_SYMBOL:
        case U_MODIFIER_SYMBOL:
        case U_OTHER_SYMBOL:
        // P: Punctuation
        case U_CONNECTOR_PUNCTUATION:
        case U_DASH_PUNCTUATION:
        case U_START_PUNCTUATION:
        case U_END_PUNCTUATION:
        case U_INITIAL_PUNCTUATION:
        case U_FINAL_PUNCTUATION:
        case U_OTHER_PUNCTUATION:
            return DerivedProperty::IdDisFreePval;
        default:
            return DerivedProperty::Disallowed;
    }
}

std::optional<std::u32string> decodeUtf8(std::string_view in) {
    std::u32string out;
    out.reserve(in.size());
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    const auto* end = p + in.size();
    auto cont = [&](const unsigned char* q, unsigned char lo, unsigned char hi) {
        return q < end && *q >= lo && *q <= hi;
    };
    while (p < end) {
        const unsigned char b = *p;
        if (b < 0x80) {
            out.push_back(b);
            ++p;
        } else if (b >= 0xC2 && b <= 0xDF) {
            if (!cont(p + 1, 0x80, 0xBF)) {
                return std::nullopt;
            }
            out.push_back(static_cast<char32_t>(((b & 0x1F) << 6) | (p[1] & 0x3F)));
            p += 2;
        } else if (b >= 0xE0 && b <= 0xEF) {
            // E0 needs A0..BF (no overlong forms), ED needs 80..9F (no surrogates).
            const unsigned char lo = b == 0xE0 ? 0xA0 : 0x80;
            const unsigned char hi = b == 0xED ? 0x9F : 0xBF;
            if (!cont(p + 1, lo, hi) || !cont(p + 2, 0x80, 0xBF)) {
                return std::nullopt;
            }
            out.push_back(
                static_cast<char32_t>(((b & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F)));
            p += 3;
        } else if (b >= 0xF0 && b <= 0xF4) {
            // F0 needs 90..BF (no overlong forms), F4 needs 80..8F (nothing above U+10FFFF).
            const unsigned char lo = b == 0xF0 ? 0x90 : 0x80;
            const unsigned char hi = b == 0xF4 ? 0x8F : 0xBF;
            if (!cont(p + 1, lo, hi) || !cont(p + 2, 0x80, 0xBF) || !cont(p + 3, 0x80, 0xBF)) {
                return std::nullopt;
            }
            out.push_back(static_cast<char32_t>(((b & 0x07) << 18) | ((p[1] & 0x3F) << 12) |
                                                ((p[2] & 0x3F) << 6) | (p[3] & 0x3F)));
            p += 4;
        } else {
            return std::nullopt;
        }
    }
    return out;
}

void appendUtf8(char32_t cp, std::string& out) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

std::string encodeUtf8(std::u32string_view in) {
    std::string out;
    out.reserve(in.size() * 2);
    for (char32_t cp : in) {
        appendUtf8(cp, out);
    }
    return out;
}

bool checkStringClass(std::u32string_view s, StringClass cls, Failure& failure) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        switch (derivedProperty(s[i])) {
            case DerivedProperty::Pvalid:
                continue;
            case DerivedProperty::IdDisFreePval:
                if (cls == StringClass::Freeform) {
                    continue;
                }
                break;
            case DerivedProperty::ContextJ:
            case DerivedProperty::ContextO:
                if (contextRuleHolds(s, i)) {
                    continue;
                }
                failure = Failure{FailureCode::ContextRule, s[i]};
                return false;
            case DerivedProperty::Disallowed:
            case DerivedProperty::Unassigned:
                break;
        }
        failure = Failure{FailureCode::Disallowed, s[i]};
        return false;
    }
    return true;
}

bool passesBidiRule(std::u32string_view s) {
    auto dir = [](char32_t cp) { return u_charDirection(static_cast<UChar32>(cp)); };
    bool rtl = false;
    for (char32_t cp : s) {
        UCharDirection d = dir(cp);
        if (d == U_RIGHT_TO_LEFT || d == U_RIGHT_TO_LEFT_ARABIC || d == U_ARABIC_NUMBER) {
            rtl = true;
            break;
        }
    }
    if (!rtl || s.empty()) {
        return true;
    }
    // Rule 1: the first character has bidi class L, R or AL; only R/AL start an RTL string,
    // and an RTL code point occurs, so the first must be R or AL.
    UCharDirection first = dir(s.front());
    if (first != U_RIGHT_TO_LEFT && first != U_RIGHT_TO_LEFT_ARABIC) {
        return false;
    }
    bool hasEn = false;
    bool hasAn = false;
    for (char32_t cp : s) {
        switch (dir(cp)) {  // Rule 2: the classes allowed in an RTL label
            case U_RIGHT_TO_LEFT:
            case U_RIGHT_TO_LEFT_ARABIC:
            case U_EUROPEAN_NUMBER_SEPARATOR:
            case U_COMMON_NUMBER_SEPARATOR:
            case U_EUROPEAN_NUMBER_TERMINATOR:
            case U_OTHER_NEUTRAL:
            case U_BOUNDARY_NEUTRAL:
            case U_DIR_NON_SPACING_MARK:
                break;
            case U_EUROPEAN_NUMBER:
                hasEn = true;
                break;
            case U_ARABIC_NUMBER:
                hasAn = true;
                break;
            default:
                return false;
        }
    }
    if (hasEn && hasAn) {  // Rule 4
        return false;
    }
    // Rule 3: the end is R, AL, EN or AN, followed by zero or more NSM.
    std::size_t last = s.size();
    while (last > 0 && dir(s[last - 1]) == U_DIR_NON_SPACING_MARK) {
        --last;
    }
    if (last == 0) {
        return false;
    }
    UCharDirection end = dir(s[last - 1]);
    return end == U_RIGHT_TO_LEFT || end == U_RIGHT_TO_LEFT_ARABIC || end == U_EUROPEAN_NUMBER ||
           end == U_ARABIC_NUMBER;
}

std::u32string mapWidthLowerNfc(std::u32string_view s) {
    // Width mapping (RFC 8265 §3.3.2 step 1): <wide> and <narrow> code points map to their
    // decomposition mapping; nothing else is decomposed here.
    icu::UnicodeString mapped;
    for (char32_t cp : s) {
        const auto c = static_cast<UChar32>(cp);
        const int dt = u_getIntPropertyValue(c, UCHAR_DECOMPOSITION_TYPE);
        icu::UnicodeString decomposition;
        if ((dt == U_DT_WIDE || dt == U_DT_NARROW) &&
            nfkc().getRawDecomposition(c, decomposition)) {
            mapped.append(decomposition);
        } else {
            mapped.append(c);
        }
    }
    // Case mapping: RFC 8265 §3.3.2 step 3 names Unicode toLowerCase(), which is ICU's full
    // lower-case mapping in the root locale (no Turkish or Lithuanian tailoring).
    mapped.toLower(icu::Locale::getRoot());
    UErrorCode err = U_ZERO_ERROR;
    icu::UnicodeString normalized = nfc().normalize(mapped, err);
    checkIcu(err, "NFC");
    return fromIcu(normalized);
}

std::expected<std::string, Failure> enforceUsernameCaseMapped(std::string_view in) {
    std::optional<std::u32string> decoded = decodeUtf8(in);
    if (!decoded) {
        return std::unexpected(Failure{FailureCode::InvalidUtf8});
    }
    auto mapped = applyUntilStable(*decoded, mapWidthLowerNfc);
    if (!mapped) {
        return std::unexpected(mapped.error());
    }
    if (mapped->empty()) {
        return std::unexpected(Failure{FailureCode::Empty});
    }
    Failure failure{FailureCode::Disallowed};
    if (!checkStringClass(*mapped, StringClass::Identifier, failure)) {
        return std::unexpected(failure);
    }
    if (!passesBidiRule(*mapped)) {
        return std::unexpected(Failure{FailureCode::BidiRule});
    }
    return encodeUtf8(*mapped);
}

std::expected<std::string, Failure> enforceOpaqueString(std::string_view in) {
    std::optional<std::u32string> decoded = decodeUtf8(in);
    if (!decoded) {
        return std::unexpected(Failure{FailureCode::InvalidUtf8});
    }
    auto rules = [](std::u32string_view s) {
        // RFC 8265 §4.2.2 step 2 (additional mapping): non-ASCII spaces become U+0020.
        std::u32string spaced(s);
        for (char32_t& cp : spaced) {
            if (cp >= 0x80 && u_charType(static_cast<UChar32>(cp)) == U_SPACE_SEPARATOR) {
                cp = U' ';
            }
        }
        // No width mapping, no case mapping; step 4: NFC.
        return normalizeNfc(spaced);
    };
    auto mapped = applyUntilStable(*decoded, rules);
    if (!mapped) {
        return std::unexpected(mapped.error());
    }
    if (mapped->empty()) {
        return std::unexpected(Failure{FailureCode::Empty});
    }
    Failure failure{FailureCode::Disallowed};
    if (!checkStringClass(*mapped, StringClass::Freeform, failure)) {
        return std::unexpected(failure);
    }
    return encodeUtf8(*mapped);
}

}  // namespace corvid::stanza::precis
