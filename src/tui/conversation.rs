//! A conversation in the TUI: a follow-up prompt goes to each model after that model's own
//! earlier turns — the prompts and *its* answers, never another model's — so the models are
//! compared on the whole exchange, as a user of each would have had it.
//!
//! A turn a model did not answer (an error, a cancel, an answer that only called tools, which
//! would need results to continue) is left out of that model's conversation: from its side
//! the exchange never happened. A model that joins later starts with the prompt alone.

use crate::metrics::{RequestResult, Status};
use crate::provider::{Message, Role};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conversation {
    /// Rounds in it so far (0: the next prompt starts a new conversation).
    pub turns: u32,
    /// Per model (index into the app's models): its earlier turns, user and assistant.
    pub history: BTreeMap<usize, Vec<Message>>,
}

impl Conversation {
    /// The earlier turns `model` gets before the next prompt.
    pub fn context(&self, model: usize) -> Vec<Message> {
        self.history.get(&model).cloned().unwrap_or_default()
    }

    /// A round of it ended: each model that answered in text gets the prompt and its own answer
    /// added. `answers` yields (model index, its final result).
    pub fn add_turn<'a>(&mut self, prompt: &Message, answers: impl IntoIterator<Item = (usize, &'a RequestResult)>) {
        self.turns += 1;
        for (model, r) in answers {
            if r.status == Status::Ok && r.tool_calls.is_empty() && !r.output.trim().is_empty() {
                let turns = self.history.entry(model).or_default();
                turns.push(prompt.clone());
                turns.push(Message::assistant(r.output.clone()));
            }
        }
    }
}

/// The conversation sent: the round's messages with `context` (earlier turns) put after its
/// leading system prompt.
pub fn with_context(messages: &[Message], context: &[Message]) -> Vec<Message> {
    if context.is_empty() {
        return messages.to_vec();
    }
    let system = messages.iter().take_while(|m| m.role == Role::System).count();
    let mut out = Vec::with_capacity(messages.len() + context.len());
    out.extend_from_slice(&messages[..system]);
    out.extend_from_slice(context);
    out.extend_from_slice(&messages[system..]);
    out
}

/// What a pane shows above the answer in a conversation: the earlier turns and the prompt now
/// being answered (sanitized, as all pane text is).
pub fn pane_history(context: &[Message], prompt: Option<&Message>) -> String {
    let mut out = String::new();
    for m in context.iter().chain(prompt) {
        let text = crate::sanitize::sanitize(m.content.trim());
        let attached: String = m.attachments.iter().map(|a| format!(" {}", a.label())).collect();
        match m.role {
            Role::User => out.push_str(&format!("▸ you:{attached} {text}\n")),
            _ => out.push_str(&format!("{text}\n\n")),
        }
    }
    // The pane puts one blank line between this and the answer.
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(model: &str, status: Status, output: &str) -> RequestResult {
        RequestResult { model: model.into(), status, output: output.into(), ..Default::default() }
    }

    #[test]
    fn each_model_keeps_its_own_answers_and_skips_turns_it_missed() {
        let mut c = Conversation::default();
        let (a1, b1) = (answer("a", Status::Ok, "A one"), answer("b", Status::Error, ""));
        c.add_turn(&Message::user("first"), [(0, &a1), (1, &b1)]);
        let (a2, b2) = (answer("a", Status::Ok, "A two"), answer("b", Status::Ok, "B two"));
        c.add_turn(&Message::user("second"), [(0, &a2), (1, &b2)]);
        assert_eq!(c.turns, 2);
        assert_eq!(
            c.context(0),
            vec![
                Message::user("first"),
                Message::assistant("A one"),
                Message::user("second"),
                Message::assistant("A two")
            ]
        );
        assert_eq!(c.context(1), vec![Message::user("second"), Message::assistant("B two")], "b missed the first");
        assert!(c.context(2).is_empty(), "a model that joins later starts fresh");
        let mut tools_only = answer("a", Status::Ok, "");
        tools_only.tool_calls.push(crate::provider::ToolCall::default());
        c.add_turn(&Message::user("third"), [(0, &tools_only)]);
        assert_eq!(c.context(0).len(), 4, "an answer that only called tools cannot be continued");
    }

    #[test]
    fn the_context_goes_after_the_system_prompt() {
        let round = vec![Message::system("Be brief."), Message::user("and now?")];
        let context = vec![Message::user("hi"), Message::assistant("hello")];
        assert_eq!(
            with_context(&round, &context),
            vec![
                Message::system("Be brief."),
                Message::user("hi"),
                Message::assistant("hello"),
                Message::user("and now?")
            ]
        );
        assert_eq!(with_context(&round, &[]), round);
        let shown = pane_history(&context, Some(&Message::user("and\x1b[2J now?")));
        assert_eq!(shown, "▸ you: hi\nhello\n\n▸ you: and␛[2J now?");
    }
}
