//! The sandbox every piece of a rule file runs in: the Rhai engine with its
//! limits, the standard library without what can block (`sleep`), capped
//! `print`/`debug`, and [`Sandbox::run`], which runs one step (the top level,
//! `evaluate`) so that an error, an exhausted budget or a panic becomes a
//! located [`Failure`] and nothing reaches stderr; [`parse`] bounds compiling.
//!
//! Budgets: the operations count (plus what native calls [`charge`]) is the
//! budget, so the same rule on the same facts stops at the same place. When it
//! runs out, the rule is stopped at its next variable read, whose position is
//! the line reported: exact, and free while the rule runs (Rhai moves its own
//! budget and limit errors to the call site of the function they happened in).
//! Nesting depth is checked the same way. Wall-clock time is only a safety net
//! for native calls that are slow per operation. A budget or time cut-off is
//! never re-run; only a failure that carries no position (a panic in a native
//! function, a value over a size limit) is replayed once, up to the operation
//! it failed at, on a stepping engine that records where it was.

use super::Limits;
use rhai::packages::{Package, StandardPackage};
use rhai::{Dynamic, Engine, EvalAltResult, FuncRegistration, LexError, Module, Position, Token};
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// Standard-library functions a rule may not call, and why.
pub const BLOCKED: &[(&str, &str)] = &[("sleep", "sleep is not available in rules: a rule must not block (it runs under an operations budget)")];

/// Bytes kept of one printed line; longer lines are cut.
const MAX_PRINTED_LINE: usize = 1000;

/// Operations a stopped rule may still take before it is stopped hard (a loop
/// that reads no variable); the position is unknown then.
const HARD_STOP_GRACE: u64 = 1_000_000;

/// Time a rule past its safety net may still take before it is stopped hard.
const HARD_STOP_GRACE_TIME: Duration = Duration::from_secs(1);

/// Extra call levels Rhai allows beyond ours, so that ours (located) is met first.
const CALL_LEVEL_GRACE: usize = 4;

/// Why a running step must stop.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stop {
    Budget,
    Time,
}

thread_local! {
    /// Safety-net deadline of the step running on this thread.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Operations charged by native functions for work Rhai does not count (see [`charge`]).
    static CHARGED: Cell<u64> = const { Cell::new(0) };
    /// Operations (counted and charged) the step has used so far.
    static USED: Cell<u64> = const { Cell::new(0) };
    /// Variable reads so far (for sampling map sizes).
    static VAR_READS: Cell<u32> = const { Cell::new(0) };
    /// Set when the step must stop; it does at its next variable read.
    static STOP: Cell<Option<(Stop, Instant)>> = const { Cell::new(None) };
    /// A replay stops after this many operations (the first run's count).
    static REPLAY_LIMIT: Cell<Option<u64>> = const { Cell::new(None) };
    /// The last position the stepping engine stepped on.
    static LAST_POS: Cell<Position> = const { Cell::new(Position::NONE) };
    /// True while a rule step runs: its panics are reported, not printed.
    static IN_RULE: Cell<bool> = const { Cell::new(false) };
    /// `print`/`debug` output of the current rule: kept lines and how many were dropped.
    static PRINTED: RefCell<(Vec<String>, usize)> = const { RefCell::new((Vec::new(), 0)) };
    /// Cap on printed lines for the current rule.
    static PRINT_CAP: Cell<usize> = const { Cell::new(100) };
    /// Parsing in progress: tokens and declarations seen, and the bounds.
    static PARSING: Cell<Option<ParseBudget>> = const { Cell::new(None) };
}

#[derive(Clone, Copy)]
struct ParseBudget {
    tokens: usize,
    declarations: usize,
    max_tokens: usize,
    max_declarations: usize,
    deadline: Instant,
}

/// Why a step failed, and where (`NONE` when even a replay could not tell).
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub pos: Position,
    /// A budget or time cut-off (never replayed).
    pub cut_off: bool,
}

/// The engines rule steps run on: the one that runs them, and a stepping twin
/// that replays a failure without a position to find where it happened.
pub struct Sandbox {
    pub engine: Engine,
    tracer: Engine,
    pub limits: Limits,
}

impl Sandbox {
    /// Both engines, each with the sandbox applied and then `register` (the rule API) called on it.
    pub fn new(limits: Limits, register: impl Fn(&mut Engine)) -> Sandbox {
        let mut engine = engine(&limits);
        register(&mut engine);
        let mut tracer = engine_of(&limits, true);
        register(&mut tracer);
        Sandbox { engine, tracer, limits }
    }

    /// Registers more functions on both engines.
    pub fn extend(&mut self, register: impl Fn(&mut Engine)) {
        register(&mut self.engine);
        register(&mut self.tracer);
    }

    /// Runs one step of a rule file under the sandbox (the operations budget, the
    /// safety-net deadline, panics caught silently). A failure comes back with
    /// its position: where a budget ran out, else Rhai's own, else, for one that
    /// has none, where a replay up to the failing operation stopped.
    pub fn run<T>(&self, mut step: impl FnMut(&Engine) -> Result<T, Box<EvalAltResult>>) -> Result<T, Failure> {
        let (result, used) = isolated(&self.limits, || step(&self.engine));
        let failure = match result {
            Ok(v) => return Ok(v),
            Err(f) => f,
        };
        if !failure.pos.is_none() || !failure.replayable {
            return Err(Failure { message: failure.message, pos: failure.pos, cut_off: !failure.replayable });
        }
        // Replay on the stepping engine, stopping at the operation the first run failed at.
        REPLAY_LIMIT.with(|r| r.set(Some(used.saturating_add(16))));
        let _ = isolated(&self.limits, || step(&self.tracer));
        REPLAY_LIMIT.with(|r| r.set(None));
        let pos = LAST_POS.with(Cell::get);
        take_printed();
        Err(Failure { message: failure.message, pos, cut_off: false })
    }
}

/// The standard package with every [`BLOCKED`] function replaced by one that
/// fails at the call. Still marked as the standard library, so it stays out of
/// the API reference.
fn standard_library() -> rhai::Shared<Module> {
    let mut m: Module = (*StandardPackage::new().as_shared_module()).clone();
    for (name, why) in BLOCKED {
        let why = *why;
        FuncRegistration::new(*name).set_into_module(&mut m, move |_: rhai::FLOAT| -> Result<(), Box<EvalAltResult>> { Err(why.into()) });
        FuncRegistration::new(*name).set_into_module(&mut m, move |_: rhai::INT| -> Result<(), Box<EvalAltResult>> { Err(why.into()) });
    }
    m.build_index();
    m.into()
}

/// A Rhai engine with the sandbox applied (the rule API is registered by the caller).
pub fn engine(limits: &Limits) -> Engine {
    engine_of(limits, false)
}

fn engine_of(limits: &Limits, stepping: bool) -> Engine {
    install_panic_hook();
    let mut engine = Engine::new_raw();
    engine.set_max_strings_interned(256);
    engine.register_global_module(standard_library());
    // Rhai's own limits are the hard stops behind ours (see `on_var` below).
    // (0 means no operations budget, as in Rhai.)
    engine.set_max_operations(if limits.max_operations == 0 { 0 } else { limits.max_operations.saturating_add(HARD_STOP_GRACE) });
    engine.set_max_call_levels(limits.max_call_levels + CALL_LEVEL_GRACE);
    engine.set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_array_size);
    engine.set_max_map_size(limits.max_map_size);
    engine.set_strict_variables(true);
    // Compile without optimisation: the linter sees every branch; `Runtime::compile`
    // optimises the AST it keeps for running.
    engine.set_optimization_level(rhai::OptimizationLevel::None);
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("eval");
    let max_operations = limits.max_operations;
    engine.on_progress(move |ops| {
        let used = ops.saturating_add(CHARGED.with(Cell::get));
        USED.with(|u| u.set(used));
        if REPLAY_LIMIT.with(Cell::get).is_some_and(|l| used > l) {
            return Some(Dynamic::from("replayed"));
        }
        let stop = STOP.with(Cell::get);
        if stop.is_none() && max_operations > 0 && used > max_operations {
            STOP.with(|s| s.set(Some((Stop::Budget, Instant::now()))));
        } else if stop.is_none() && ops.is_multiple_of(1024) && DEADLINE.with(|d| d.get().is_some_and(|d| Instant::now() > d)) {
            STOP.with(|s| s.set(Some((Stop::Time, Instant::now()))));
        }
        match STOP.with(Cell::get) {
            Some((Stop::Budget, _)) if used > max_operations.saturating_add(HARD_STOP_GRACE) => Some(Dynamic::from("operations")),
            Some((Stop::Time, at)) if ops.is_multiple_of(1024) && at.elapsed() > HARD_STOP_GRACE_TIME => Some(Dynamic::from("time")),
            _ => None,
        }
    });
    // Every variable read passes here: a rule that must stop, or nests too deep,
    // fails at that read, so the error carries its position (Rhai's own budget and
    // depth errors lose it at the function boundary).
    let l = *limits;
    #[allow(deprecated)]
    engine.on_var(move |name, _, ctx| {
        if let Some((why, _)) = STOP.with(Cell::get) {
            return Err(stop_message(why, &l).into());
        }
        if ctx.call_level() > l.max_call_levels {
            return Err(depth_message(&l).into());
        }
        // Rhai checks a map's size on most changes but not on `m[key] = value`;
        // a sample of reads catches a map variable grown that way.
        let reads = VAR_READS.with(|r| r.replace(r.get().wrapping_add(1)));
        if reads.is_multiple_of(256) {
            if let Some(m) = ctx.scope().get(name).and_then(|v| v.as_map_ref().ok()) {
                if m.len() > l.max_map_size {
                    return Err(format!("Size of object map too large (the limit is {} entries)", l.max_map_size).into());
                }
            }
        }
        Ok(None)
    });
    engine.on_print(|s| keep_printed(s.to_string()));
    engine.on_debug(|s, _, pos| keep_printed(format!("{s} (line {})", pos.line().unwrap_or(0))));
    // Rhai marks these hooks "volatile", not deprecated; the version is pinned in Cargo.toml.
    #[allow(deprecated)]
    engine.on_parse_token(count_token);
    if stepping {
        // Only the replay engine steps: a debugger makes Rhai copy every script
        // function's arguments, which costs too much to run with always.
        #[allow(deprecated)]
        engine.register_debugger(
            |_, dbg| dbg,
            |_, event, _, _, pos| {
                if matches!(event, rhai::debugger::DebuggerEvent::Step) && !pos.is_none() {
                    LAST_POS.with(|p| p.set(pos));
                }
                Ok(rhai::debugger::DebuggerCommand::StepInto)
            },
        );
    }
    engine
}

fn stop_message(why: Stop, l: &Limits) -> String {
    match why {
        Stop::Budget => format!("exceeded its operations budget ({} operations; a loop that never ends?); cut off", l.max_operations),
        Stop::Time => format!(
            "exceeded its time budget ({} s, the safety net for native calls that are slow per operation; the operations budget had not run out); cut off",
            l.timeout.as_secs_f64()
        ),
    }
}

fn depth_message(l: &Limits) -> String {
    format!("too many nested function calls (more than {}; recursion that never ends?)", l.max_call_levels)
}

/// The parser's token hook: bounds the work of compiling one file. Rhai's parser
/// looks each variable up linearly among those declared before it, so a file's
/// compile time grows with tokens × declarations; both are capped, and a
/// deadline covers anything else.
fn count_token(token: Token, _: Position, _: &rhai::TokenizeState) -> Token {
    let Some(mut b) = PARSING.with(Cell::get) else {
        return token;
    };
    b.tokens += 1;
    if matches!(token, Token::Let | Token::Const) {
        b.declarations += 1;
    }
    PARSING.with(|p| p.set(Some(b)));
    let fail = |m: String| Token::LexError(Box::new(LexError::Runtime(m)));
    if b.tokens > b.max_tokens {
        return fail(format!("rule file too large: more than {} tokens", b.max_tokens));
    }
    if b.declarations > b.max_declarations {
        return fail(format!("rule file too large: more than {} `let`/`const` declarations", b.max_declarations));
    }
    if b.tokens.is_multiple_of(1024) && Instant::now() > b.deadline {
        return fail("compiling took too long; cut off".to_string());
    }
    token
}

fn keep_printed(mut line: String) {
    if line.len() > MAX_PRINTED_LINE {
        line.truncate(line.floor_char_boundary(MAX_PRINTED_LINE));
        line.push('…');
    }
    let cap = PRINT_CAP.with(Cell::get);
    PRINTED.with(|p| {
        let mut p = p.borrow_mut();
        if p.0.len() < cap {
            p.0.push(line);
        } else {
            p.1 += 1;
        }
    });
}

/// Charges `ops` operations to the rule running on this thread, for work a
/// native function does that Rhai counts as one operation (building an array
/// of every pod, say). Keeps the budget deterministic where wall-clock time
/// would not be: once counted and charged operations exceed the budget, the
/// rule stops at its next variable read.
pub fn charge(ops: u64) {
    CHARGED.with(|c| c.set(c.get().saturating_add(ops)));
}

/// Takes what the current thread's rule printed: (kept lines, dropped count).
pub fn take_printed() -> (Vec<String>, usize) {
    PRINTED.with(|p| std::mem::take(&mut *p.borrow_mut()))
}

/// Sets the cap on printed lines per rule run.
pub fn set_print_cap(cap: usize) {
    PRINT_CAP.with(|c| c.set(cap));
}

/// Installs (once per process) a panic hook that stays silent for panics inside
/// a rule step (the step reports them) and defers to the previous hook for
/// every other panic, so real bugs still print.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_RULE.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Restores the thread-local step state however the step ends.
struct StepGuard {
    was_in_rule: bool,
}

impl StepGuard {
    fn enter(limits: &Limits) -> StepGuard {
        DEADLINE.with(|d| d.set(Some(Instant::now() + limits.timeout)));
        CHARGED.with(|c| c.set(0));
        USED.with(|c| c.set(0));
        STOP.with(|c| c.set(None));
        LAST_POS.with(|p| p.set(Position::NONE));
        StepGuard { was_in_rule: IN_RULE.with(|r| r.replace(true)) }
    }
}

impl Drop for StepGuard {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(None));
        STOP.with(|c| c.set(None));
        PARSING.with(|p| p.set(None));
        IN_RULE.with(|r| r.set(self.was_in_rule));
    }
}

/// A failure of one run, before any replay: `replayable` when a replay could locate it.
struct RawFailure {
    message: String,
    pos: Position,
    replayable: bool,
}

/// Runs `step` with the step state armed and panics caught; returns the result
/// and the operations it used.
fn isolated<T>(limits: &Limits, step: impl FnOnce() -> Result<T, Box<EvalAltResult>>) -> (Result<T, RawFailure>, u64) {
    let guard = StepGuard::enter(limits);
    let result = catch_unwind(AssertUnwindSafe(step));
    let stop = STOP.with(Cell::get);
    let used = USED.with(Cell::get);
    drop(guard);
    let result = match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            let inner = innermost(&e);
            // A cut-off stopped hard (a loop reading no variable) has no position; it is not replayed.
            if let Some((why, _)) = stop.filter(|_| matches!(inner, EvalAltResult::ErrorTerminated(..) | EvalAltResult::ErrorTooManyOperations(..))) {
                Err(RawFailure { message: stop_message(why, limits), pos: Position::NONE, replayable: false })
            } else {
                let (message, pos) = describe(&e, limits);
                // Rhai moves a system error (size, depth) to the call site of the function it happened in.
                let pos = if inner.is_system_exception() { Position::NONE } else { pos };
                Err(RawFailure { message, pos, replayable: true })
            }
        }
        Err(panic) => Err(RawFailure { message: format!("panicked: {}", panic_message(&*panic)), pos: Position::NONE, replayable: true }),
    };
    (result, used)
}

/// Parses a rule file under the compile bounds of `limits`; a panic in the parser is caught too.
pub fn parse(engine: &Engine, limits: &Limits, text: &str) -> Result<rhai::AST, Failure> {
    let guard = StepGuard::enter(limits);
    PARSING.with(|p| {
        p.set(Some(ParseBudget {
            tokens: 0,
            declarations: 0,
            max_tokens: limits.max_tokens,
            max_declarations: limits.max_declarations,
            deadline: Instant::now() + limits.compile_timeout,
        }))
    });
    let result = catch_unwind(AssertUnwindSafe(|| engine.compile(text)));
    drop(guard);
    match result {
        Ok(Ok(ast)) => Ok(ast),
        Ok(Err(e)) => Err(Failure { message: e.0.to_string(), pos: e.1, cut_off: false }),
        Err(panic) => Err(Failure { message: format!("the parser panicked: {}", panic_message(&*panic)), pos: Position::NONE, cut_off: false }),
    }
}

/// Runs `f` with panics caught silently (for work on a rule's AST outside the engine, e.g. optimising).
pub fn quiet<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let was = IN_RULE.with(|r| r.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_RULE.with(|r| r.set(was));
    result.map_err(|p| format!("panicked: {}", panic_message(&*p)))
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_else(|| "(no message)".to_string())
}

/// The error at the bottom of a chain of errors in nested function calls.
fn innermost(e: &EvalAltResult) -> &EvalAltResult {
    match e {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => innermost(inner),
        other => other,
    }
}

/// The innermost error of `e` (errors inside functions are wrapped), worded
/// for a rule author, with its position.
pub fn describe(e: &EvalAltResult, limits: &Limits) -> (String, Position) {
    use EvalAltResult as E;
    match e {
        E::ErrorInFunctionCall(name, _, inner, pos) => {
            let (msg, p) = describe(inner, limits);
            if p.is_none() {
                (format!("in {name}: {msg}"), *pos)
            } else {
                (msg, p)
            }
        }
        E::ErrorTooManyOperations(pos) => (stop_message(Stop::Budget, limits), *pos),
        E::ErrorTerminated(_, pos) => (stop_message(Stop::Time, limits), *pos),
        E::ErrorStackOverflow(pos) => (depth_message(limits), *pos),
        E::ErrorDataTooLarge(what, pos) => {
            let limit = if what.contains("string") {
                format!("{} bytes", limits.max_string_size)
            } else if what.contains("array") {
                format!("{} items", limits.max_array_size)
            } else {
                format!("{} entries", limits.max_map_size)
            };
            (format!("{what} too large (the limit is {limit})"), *pos)
        }
        E::ErrorRuntime(v, pos) => (v.to_string(), *pos),
        other => {
            let pos = other.position();
            let mut msg = other.to_string();
            // Rhai appends " (line L, position C)"; the location is printed separately.
            if let Some(i) = msg.rfind(" (line ") {
                msg.truncate(i);
            }
            (msg, pos)
        }
    }
}
