import { describe, expect, it } from "vitest"
import { definesSymbol, missingSymbols } from "../../src/domain/Symbols.js"

const N = "execute_trade"

describe("definesSymbol", () => {
  it("recognises definitions in common languages", () => {
    for (
      const code of [
        "def execute_trade(x):\n  pass",
        "async def execute_trade(x): ...",
        "function execute_trade(order) {}",
        "export async function execute_trade(o) {}",
        "export default function* execute_trade() {}",
        "function*execute_trade() {}",
        "func (b Bot) execute_trade[T any](o T) {}",
        "const execute_trade = (o) => o",
        "export const execute_trade: Handler = (o) => o",
        "execute_trade = lambda o: o",
        "class execute_trade:\n  pass",
        "fn execute_trade(o: Order) -> Result {}",
        "pub fn execute_trade<T>(o: T) {}",
        "func execute_trade(o Order) error {",
        "int execute_trade(Order* o) {",
        "static inline double execute_trade(const double *x, int n) {",
        "std::vector<int> Bot::execute_trade(int a) const {",
        "public static <T> List<T> execute_trade(T o) throws IOException {",
        "local function execute_trade(o)\n  return o\nend",
        "class Bot {\n  async execute_trade(order: Order): Promise<void> {\n  }\n}",
        "  get execute_trade() {\n    return 1\n  }"
      ]
    ) expect(definesSymbol(code, N), code).toBe(true)
  })

  it("rejects uses, comparisons, comments and longer names", () => {
    for (
      const code of [
        "execute_trade(order)",
        "# execute_trade is not defined",
        "if execute_trade == 1:",
        "def execute_trades(x): pass",
        "x := execute_trade(1)",
        "result = execute_trade(order)",
        "self.execute_trade = None",
        "while (execute_trade(x)) {",
        "return execute_trade(x) {",
        "Runnable r = new execute_trade(a) {",
        "if (execute_trade <= 3) {}",
        "total += execute_trade"
      ]
    ) expect(definesSymbol(code, N), code).toBe(false)
  })

  // Before one function existed, the run's required symbols (propose/Edits) and llmBatch's
  // validator (`evolve generate --validate-symbol`) disagreed on each of these.
  it("decides the cases the two former rules disagreed on", () => {
    const cases: ReadonlyArray<readonly [string, boolean, string]> = [
      // [code, defines?, which former rule was wrong]
      ["# def execute_trade(x):\n#     pass", false, "llmBatch counted a commented-out definition"],
      ["// function execute_trade(o) {}", false, "llmBatch counted a commented-out definition"],
      ["func (b *Bot) execute_trade(o Order) error {\n\treturn nil\n}", true, "Edits missed a Go method"],
      ["public int execute_trade(Order o)\n{\n    return 0;\n}", true, "Edits missed a signature with `{` on the next line"],
      ["class Bot {\nexecute_trade(order) {\n}\n}", true, "Edits missed an unindented method"],
      ["execute_trade: Callable[[Order], None] = make_trader()", true, "llmBatch missed an annotated assignment"],
      ["execute_trade := func(o Order) {}", true, "llmBatch missed `:=`"],
      ["var execute_trade int = 3", true, "llmBatch missed a typed `var`"],
      ["struct execute_trade {\n  int x;\n};", true, "llmBatch missed `struct`"],
      ["type execute_trade = (o: Order) => void", true, "llmBatch missed `type`"],
      ["interface execute_trade { (o: Order): void }", true, "llmBatch missed `interface`"],
      ["trait execute_trade { fn go(&self); }", true, "llmBatch missed `trait`"],
      ["const impl = 1\nexport { impl as x, execute_trade }", true, "llmBatch missed an export list"],
      ["x = 1; execute_trade = make()", true, "llmBatch missed an assignment after `;`"],
      ["other, execute_trade = build()", true, "llmBatch missed tuple unpacking"],
      ["run(execute_trade=True)", false, "Edits counted a keyword argument"],
      ["engine.start(mode, execute_trade=fast)", false, "Edits counted a keyword argument"],
      ["def run(execute_trade=None):\n    pass", false, "Edits counted a default parameter"],
      ["orders.map(execute_trade => execute_trade.id)", false, "Edits counted an arrow function's parameter"],
      ["const f = execute_trade => 1", false, "Edits counted an arrow function's parameter"]
    ]
    for (const [code, expected, why] of cases) expect(definesSymbol(code, N), `${why}: ${code}`).toBe(expected)
  })

  it("a call passing a callback is not a definition (both former rules said the first one was)", () => {
    expect(definesSymbol("  execute_trade(order, function() {\n  })", N)).toBe(false)
    expect(definesSymbol("  execute_trade(() => {\n  })", N)).toBe(false)
  })

  it("handles CRLF and names with regex characters", () => {
    expect(definesSymbol("x = 1\r\ndef execute_trade(o):\r\n  pass\r\n", N)).toBe(true)
    expect(definesSymbol("const $scope = 1", "$scope")).toBe(true)
    expect(definesSymbol("const scope = 1", "$scope")).toBe(false)
  })

  it("missingSymbols lists the required names the parent defines and the child lost", () => {
    const parent = "def search(f):\n    return helper(f)\n\ndef helper(f):\n    return f\n"
    const child = "def search(f):\n    return f\n"
    expect(missingSymbols(parent, child, ["search", "helper", "absent"])).toEqual(["helper"])
    expect(missingSymbols(parent, parent, ["search", "helper"])).toEqual([])
  })
})
