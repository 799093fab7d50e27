import FlywheelCore
import Testing

@Suite("Prompt normalisation")
struct PromptNormalizerTests {
    @Test("Case and whitespace runs are folded, ends trimmed, punctuation kept")
    func caseAndWhitespace() {
        #expect(PromptNormalizer.normalize("  Hello,\n\t WORLD  ") == "hello, world")
        #expect(PromptNormalizer.normalize("a\u{00A0}\u{00A0}b\r\nc") == "a b c")
        #expect(PromptNormalizer.normalize(" \n\t ") == "")
        #expect(PromptNormalizer.normalize("f(x) = [1,2]") != PromptNormalizer.normalize("f x = 1 2"))
    }

    @Test("NFKC folds compatibility variants and canonical equivalents")
    func nfkc() {
        // unicodedata.normalize('NFKC', 'ﬁle Ｎｏ．１２').lower() == 'file no.12'
        #expect(PromptNormalizer.normalize("ﬁle Ｎｏ．１２") == "file no.12")
        #expect(PromptNormalizer.normalize("Cafe\u{301}") == PromptNormalizer.normalize("café"))
    }

    @Test("Normalisation is idempotent")
    func idempotent() {
        for prompt in ["  Mixed CASE\tand ﬁ  ligatures ", "ΣΊΣΥΦΟΣ", "Straße  İstanbul", ""] {
            let once = PromptNormalizer.normalize(prompt)
            #expect(PromptNormalizer.normalize(once) == once)
        }
    }

    // Digests from hashlib.sha256(s.encode()).hexdigest() (Python 3) of the already-normalised string.
    @Test(
        "Hash is the SHA-256 of the normalised prompt",
        arguments: [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (String(repeating: "x", count: 55), "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072"),
            (String(repeating: "x", count: 56), "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e"),
            (String(repeating: "x", count: 64), "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c"),
            (String(repeating: "x", count: 127), "70156a14adbabf98cff3a71c7084b417abf057a8efd27329ca36b7202c87d81f"),
            // hashlib.sha256('café fi'.encode()).hexdigest(): non-ASCII bytes and a folded ligature.
            ("  Café \t ﬁ ", "1274b2aac6b08128429dbb36643f44f06626bce152bf32412d83ad7ccf85d06a"),
        ])
    func hash(prompt: String, expected: String) {
        #expect(PromptNormalizer.hash(prompt) == expected)
    }

    @Test("Prompts that normalise alike hash alike")
    func hashIgnoresCaseAndSpacing() {
        #expect(PromptNormalizer.hash("Sort  the LIST\n[3, 1]") == PromptNormalizer.hash("sort the list [3, 1]"))
        #expect(PromptNormalizer.hash("sort the list [3, 1]") != PromptNormalizer.hash("sort the list [3, 2]"))
    }

    @Test("Tokens are maximal runs of letters and digits")
    func tokens() {
        #expect(PromptNormalizer.tokens("Given [3,14]: f_x(y) -> Été!") == ["given", "3", "14", "f", "x", "y", "été"])
        #expect(PromptNormalizer.tokens("-- ... --").isEmpty)
    }
}

@Suite("Contamination index")
struct ContaminationIndexTests {
    /// 27 tokens: given the list 3 1 4 1 5 return the sum of every element that is strictly greater than the
    /// first element answer with a single integer.
    static let paragraph =
        "Given the list [3, 1, 4, 1, 5], return the sum of every element that is strictly greater than the first "
        + "element. Answer with a single integer."
    static let shortPrompt = "Reverse the list [1, 2, 3]."
    static let unrelated = "Compute the product of all odd numbers in [2, 7, 9, 4] and answer with an integer."

    let index = ContaminationIndex(heldoutPrompts: [paragraph, shortPrompt, unrelated])

    @Test("An exact copy differing only in case and whitespace is found")
    func exactCopy() {
        let copy =
            "  GIVEN the   list\n[3, 1, 4, 1, 5],\treturn the sum of every element that is strictly greater than "
            + "the first element.   answer with a single INTEGER. "
        #expect(index.check(copy) == .exactCopy)
        #expect(index.check(Self.shortPrompt.uppercased()) == .exactCopy)
    }

    @Test("A near copy with another sentence changed shares a 13-token window")
    func nearCopy() {
        let edited =
            "Given the list [3, 1, 4, 1, 5], return the sum of every element that is strictly greater than the first "
            + "element. Reply using one number, nothing else."
        #expect(index.check(edited) == .sharedNGram(n: 13))
    }

    @Test("Punctuation does not hide a shared window")
    func punctuationDropped() {
        let repunctuated = "given: the list (3; 1; 4; 1; 5) -- return the SUM of every element... please"
        #expect(index.check(repunctuated) == .sharedNGram(n: 13))
    }

    @Test("Twelve shared consecutive tokens are not contamination; thirteen are")
    func windowBoundary() {
        // given the list 3 1 4 1 5 return the sum of: twelve held-out tokens, then words the held-out set lacks.
        let twelve = "Given the list [3, 1, 4, 1, 5], return the sum of squares, then double it."
        #expect(index.check(twelve) == nil)
        let thirteen = "Given the list [3, 1, 4, 1, 5], return the sum of every square, then double it."
        #expect(index.check(thirteen) == .sharedNGram(n: 13))
        // Two twelve-token runs separated by a foreign token do not add up to a window.
        let split = "Given the list [3, 1, 4, 1, 5], return the sum of PLUS every element that is strictly"
        #expect(index.check(split) == nil)
    }

    @Test("Clean prompts pass, including ones that reuse common words")
    func clean() {
        #expect(index.check("Return the maximum of [8, 2, 6].") == nil)
        #expect(index.check("") == nil)
    }

    @Test("A held-out prompt shorter than n tokens is matched only exactly")
    func shortHeldout() {
        #expect(index.check("reverse   the list [1, 2, 3].") == .exactCopy)
        #expect(index.check("Reverse the list [1, 2, 3]!") == nil)
        #expect(index.check("Please reverse the list [1, 2, 3]. Then reverse the list [1, 2, 3] again.") == nil)
        let shortOnly = ContaminationIndex(heldoutPrompts: [Self.shortPrompt], n: 5)
        #expect(shortOnly.check("Now reverse the list 1 2 3 twice") == .sharedNGram(n: 5))
        let tooShort = ContaminationIndex(heldoutPrompts: [Self.shortPrompt], n: 7)
        #expect(tooShort.check("Now reverse the list 1 2 3 twice") == nil)
        #expect(tooShort.check(Self.shortPrompt) == .exactCopy)
    }

    @Test("The window length is configurable")
    func configurableN() {
        let twelve = "Given the list [3, 1, 4, 1, 5], return the sum of squares, then double it."
        let index12 = ContaminationIndex(heldoutPrompts: [Self.paragraph], n: 12)
        #expect(index12.n == 12)
        #expect(index12.check(twelve) == .sharedNGram(n: 12))
        let index3 = ContaminationIndex(heldoutPrompts: [Self.paragraph], n: 3)
        #expect(index3.check("Find every element that is odd.") == .sharedNGram(n: 3))
        #expect(index3.check("Find every element which is odd.") == nil)
        #expect(ContaminationIndex(heldoutPrompts: [Self.paragraph]).n == 13)
    }

    @Test("An empty held-out set finds nothing")
    func emptyIndex() {
        let empty = ContaminationIndex(heldoutPrompts: [])
        #expect(empty.check(Self.paragraph) == nil)
    }

    @Test("Template text every held-out prompt carries is not contamination; content still is")
    func templateWindowsAreIgnored() {
        let template = "Find the function f on integer lists from these examples and answer with one program of the DSL."
        // Content varies per item (numbers from a small congruential sequence), the template does not.
        func content(_ i: Int) -> String {
            let values = (1...7).map { (i * 7919 + $0 * 104_729) % 1000 }
            return "f([\(values[0]), \(values[1]), \(values[2])]) = [\(values[3]), \(values[4]), \(values[5]), \(values[6])]"
                + " f([\(values[6]), \(values[0])]) = [\(values[1] + values[2])]"
                + " f([\(values[4]), \(values[5]), \(values[3])]) = [\(values[0] + values[6])]"
        }
        let heldout = (0..<40).map { "\(template) \(content($0))" }
        let index = ContaminationIndex(heldoutPrompts: heldout, n: 13)
        // Same template, new content: clean.
        #expect(index.check("\(template) f([100, 200]) = [300]") == nil)
        // Same template and a held-out item's content: caught by its content windows.
        #expect(index.check("\(template) \(content(5)) and more") == .sharedNGram(n: 13))
        #expect(index.check("Another preamble entirely. \(content(17))") == .sharedNGram(n: 13))
        // Without the share limit every templated prompt would be flagged.
        let strict = ContaminationIndex(heldoutPrompts: heldout, n: 13, boilerplateShare: 1)
        #expect(strict.check("\(template) f([100, 200]) = [300]") == .sharedNGram(n: 13))
    }
}
