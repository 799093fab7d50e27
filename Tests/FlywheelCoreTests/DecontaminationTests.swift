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

    @Test("A held-out prompt shorter than n tokens shares no window, but is still found exactly or contained")
    func shortHeldout() {
        #expect(index.check("reverse   the list [1, 2, 3].") == .exactCopy)
        #expect(index.check("Reverse the list [1, 2, 3]!") == nil)
        // Matched no window before containment was checked; it holds the held-out prompt twice.
        #expect(
            index.check("Please reverse the list [1, 2, 3]. Then reverse the list [1, 2, 3] again.") == .embeddedCopy)
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
        // Same template and a held-out item's content: the whole held-out prompt inside longer text.
        #expect(index.check("\(template) \(content(5)) and more") == .embeddedCopy)
        // Another template and a held-out item's content: caught by its content windows.
        #expect(index.check("Another preamble entirely. \(content(17))") == .sharedNGram(n: 13))
        // Without the share limit every templated prompt would be flagged.
        let strict = ContaminationIndex(heldoutPrompts: heldout, n: 13, boilerplateShare: 1)
        #expect(strict.check("\(template) f([100, 200]) = [300]") == .sharedNGram(n: 13))
    }
}

@Suite("Containment and near copies")
struct ContainmentTests {
    /// Word problems from four fixed templates, as a natural-language generator writes its held-out set.
    static func wordProblem(_ i: Int) -> String {
        let name = ["Tom", "Mary", "Ali", "Sofia", "Kenji"][i % 5]
        let (a, b) = (10 + i, 3 + (i * 7) % 50)
        switch i % 4 {
        case 0: return "What is \(a) + \(b)?"
        case 1: return "\(name) has \(a) marbles. \(name) buys \(b) more. How many marbles does \(name) have now?"
        case 2:
            return "A train travels at \(a) km per hour for \(b % 12 + 1) hours. How many kilometres does it "
                + "travel?"
        default: return "What is the remainder when \(a * 3) is divided by \(b)?"
        }
    }

    static let heldout = (0..<80).map(wordProblem)
    let index = ContaminationIndex(heldoutPrompts: heldout)

    @Test("A prompt holding a whole held-out prompt inside longer text is contaminated, however short that prompt")
    func embedded() {
        // 4, 15 and 16 tokens: the first two share no 13-token window with anything once wrapped.
        #expect(Self.heldout[0] == "What is 10 + 3?")
        #expect(
            index.check("Here is a problem from the evaluation set:\nWhat is 10 + 3?\nShow your reasoning.")
                == .embeddedCopy)
        #expect(index.check("Solve both.\n1. What is 500 + 600?\n2. \(Self.heldout[2])") == .embeddedCopy)
        #expect(index.check("Task 3 of 10: \(Self.heldout[1].uppercased()) Answer:") == .embeddedCopy)
        // Spacing around punctuation is not part of the prompt.
        #expect(index.check("Quick one: what is 10+3 ? Answer briefly.") == .embeddedCopy)
    }

    @Test("Containment is of whole tokens, with the held-out prompt's punctuation")
    func wholeTokens() {
        for other in ["What is 10 + 33?", "What is 110 + 3?", "What is 10 - 3?", "So what is 10 + 3.5?"] {
            #expect(index.check("Here is a problem: \(other) Show your reasoning.") == nil, "\(other)")
        }
    }

    @Test("Held-out prompts under four tokens are matched only exactly; four tokens are enough to be contained")
    func minimumLength() {
        let short = ["Yes", "Yes or no?", "Is 91 prime?", "What is 7 * 8?"]
        let index = ContaminationIndex(heldoutPrompts: short)
        #expect(index.check("YES") == .exactCopy)
        #expect(index.check("Yes, I agree.") == nil)
        #expect(index.check("Is the sky blue? Yes or no?") == nil)
        #expect(index.check("Is 91 prime? Explain why.") == nil)
        #expect(index.check("Question: What is 7 * 8? Answer briefly.") == .embeddedCopy)
        // What a lower minimum would flag.
        var rules = ContaminationIndex.Rules()
        rules.minimumContainedTokens = 3
        let three = ContaminationIndex(heldoutPrompts: short, rules: rules)
        #expect(three.check("Is 91 prime? Explain why.") == .embeddedCopy)
        #expect(three.check("Is the sky blue? Yes or no?") == .embeddedCopy)
        rules.minimumContainedTokens = 1
        #expect(ContaminationIndex(heldoutPrompts: short, rules: rules).check("Yes, I agree.") == .embeddedCopy)
    }

    @Test("A held-out prompt found inside more than 5 % of the others is template text, not a leak")
    func commonHeldoutPromptIsTemplate() {
        let questions = (0..<40).map { "Is \(1000 + 7 * $0) prime? Answer yes or no." }
        let index = ContaminationIndex(heldoutPrompts: questions + ["Answer yes or no."])
        #expect(index.check("Is 5 prime? Answer yes or no.") == nil)
        #expect(index.check("Answer yes or no.") == .exactCopy)
        // The questions themselves are still found whole and nearly whole.
        #expect(index.check("Is 1000 prime? Answer yes or no. Explain.") == .embeddedCopy)
        #expect(index.check("Is 1000 really prime? Answer yes or no.") == .nearCopy)
        // Inside two of 43 held-out prompts (no more than 5 %, and at most two): a leak.
        let rare = ContaminationIndex(
            heldoutPrompts: Array(questions.prefix(2)) + (0..<40).map { "Sort the list [\($0), 3, 1]." }
                + ["Answer yes or no."])
        #expect(rare.check("Is 5 prime? Answer yes or no.") == .embeddedCopy)
    }

    @Test("Words swapped or inserted make a near copy; a word changed or dropped makes another task")
    func nearCopies() {
        // 17 words: a near copy may make three edits.
        let question = "How many stamps does Sofia have now?"
        let problem = "Sofia has 24 stamps. She buys 17 more at the market. \(question)"
        let index = ContaminationIndex(heldoutPrompts: Self.heldout + [problem])
        // One word inserted and two swapped: no 13-token window is left intact.
        let edited = "Sofia has 24 stamps. She then buys 17 more at the market. How many does stamps Sofia have now?"
        #expect(index.check(edited) == .nearCopy)
        #expect(index.check("Sofia has 24 stamps. She buys 18 more at the market. \(question)") == nil)
        #expect(index.check("Sofia has 24 stamps. She buys more at the market. \(question)") == nil)
        // Four insertions are more than a 17-word prompt allows.
        let four =
            "Sofia now has 24 stamps. She then buys 17 more at the big market. How many stamps does Sofia really "
            + "have now?"
        #expect(index.check(four) == nil)
        // Short prompts allow one edit, and punctuation is part of a word.
        #expect(index.check("What is really 10 + 3?") == .nearCopy)
        #expect(index.check("What is 3 + 10?") == nil)
        #expect(index.check("What is 10 + 3 + 1?") == nil)
        var rules = ContaminationIndex.Rules()
        rules.wordsPerEdit = nil
        #expect(ContaminationIndex(heldoutPrompts: Self.heldout, rules: rules).check("What is really 10 + 3?") == nil)
    }

    @Test("Clean prompts from the held-out set's templates pass, wrapped or not")
    func cleanPromptsPass() {
        for i in 200..<320 {
            let prompt = Self.wordProblem(i)
            #expect(index.check(prompt) == nil, "\(prompt)")
            let wrapped = "Solve both.\n1. \(prompt)\n2. \(Self.wordProblem(i + 200))\nShow your reasoning."
            #expect(index.check(wrapped) == nil, "\(wrapped)")
        }
    }

    @Test("Templated held-out prompts: template text is not a leak, a held-out prompt inside other text is")
    func templated() {
        let header = "Find the function f on integer lists."
        let footer = "Answer with one program of the listfn DSL, e.g. (map (lambda (* $0 2)) $in)."
        func prompt(_ i: Int) -> String {
            let values = (1...5).map { (i * 7919 + $0 * 104_729) % 16 }
            return "\(header)\nf([\(values[0]), \(values[1])]) = \(values[2])\nf([\(values[3])]) = \(values[4])\n"
                + footer
        }
        let heldout = (0..<40).map(prompt)
        let index = ContaminationIndex(heldoutPrompts: heldout)
        for i in 40..<200 where !heldout.contains(prompt(i)) {
            #expect(index.check(prompt(i)) == nil, "\(prompt(i))")
            #expect(index.check("Solve this one.\n\(prompt(i))\nThanks.") == nil)
        }
        #expect(index.check("\(header)\n\(footer)") == nil)
        let spaced = heldout[3].replacingOccurrences(of: ", ", with: ",")
        #expect(index.check("Solve this one.\n\(spaced)\nThanks.") == .embeddedCopy)
    }
}

@Suite("Prompt normalisation of ASCII text")
struct ASCIINormalizationTests {
    /// A non-ASCII letter at the end sends the prompt through the general Unicode path.
    static func general(_ prompt: String) -> String {
        var normalized = String(PromptNormalizer.normalize(prompt + "x\u{E9}").dropLast(2))
        if normalized.hasSuffix(" ") { normalized.removeLast() }
        return normalized
    }

    @Test("Every ASCII character normalises as the general path does")
    func everyCharacter() {
        for byte in UInt8(0)..<128 {
            let character = Character(UnicodeScalar(byte))
            let prompt = "A\(character)b  \(character)\(character)C "
            #expect(PromptNormalizer.normalize(prompt) == Self.general(prompt), "byte \(byte)")
        }
        #expect(PromptNormalizer.normalize("a\r\nb\u{0B}\u{0C}c\u{1C}d") == "a b c\u{1C}d")
    }

    @Test("Random ASCII prompts normalise and tokenise as the general path does")
    func randomPrompts() {
        var state: UInt64 = 0x5EED
        let alphabet = Array("aZ09 \t\n\r.,;:!?()[]{}+-*/=_'\"\u{0B}\u{0C}\u{1F}\u{7F}")
        for _ in 0..<500 {
            var prompt = ""
            for _ in 0..<Int(state % 40) {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                prompt.append(alphabet[Int(state >> 33) % alphabet.count])
            }
            #expect(PromptNormalizer.normalize(prompt) == Self.general(prompt), "\(prompt.debugDescription)")
            #expect(PromptNormalizer.tokens(prompt) == PromptNormalizer.tokens(prompt + " \u{E9}").dropLast())
        }
    }
}
