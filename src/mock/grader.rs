//! The mock as a judge: a request whose last user turn carries bakeoff's judge markers
//! (`<<<ANSWER-…>>>`, or `<<<ANSWER-A-…>>>` and `<<<ANSWER-B-…>>>` for a pair) is answered with
//! the verdict JSON the judge prompt asks for, so demo models can judge offline.
//!
//! The grade is deterministic and reads like a judge's: the answer's style as the mock writes it
//! at each quality (a summary with bullets and caveats is 5, a numbered list 4, plain paragraphs
//! 3, "it depends" 2, terse 1), one point more when it contains the answer taught for the prompt
//! and one less when it misses it, and one point more for an answer in the judge's own style —
//! the way real judges favour text that sounds like their own, so the demo shows self-preference.
//! A sloppy judge (quality 2 or less) is noisy on single answers and, in pairs, prefers the
//! answer shown first unless the other is clearly better: the position bias reports measure.

use super::text::fnv1a;

/// What the mock writes at each quality, by a phrase only that quality uses.
const STYLES: &[(u8, &str)] = &[
    (5, "**Summary:**"),
    (4, "The main points:"),
    (3, "a few things matter most"),
    (2, "The short version: it depends"),
];

fn style(answer: &str) -> Option<u8> {
    STYLES.iter().find(|(_, phrase)| answer.contains(phrase)).map(|(q, _)| *q)
}

/// The text between `<<<TAG-nonce>>>` and `<<<END-TAG-nonce>>>`, for the first nonce found.
fn between<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<<<{tag}-");
    let at = text.find(&open)?;
    let rest = &text[at + open.len()..];
    let nonce = &rest[..rest.find(">>>")?];
    if nonce.contains('-') {
        return None; // `ANSWER-` matched `ANSWER-A-…`
    }
    let body = &rest[nonce.len() + 3..];
    let end = body.find(&format!("<<<END-{tag}-{nonce}>>>"))?;
    Some(body[..end].trim_matches('\n'))
}

/// The graded conversation's last user turn (as the judge prompt renders it: `[user]\n…`).
fn last_user(conversation: &str) -> &str {
    conversation.rsplit("[user]\n").next().unwrap_or(conversation).trim()
}

/// 1–5 for `answer`, and why.
fn grade(answer: &str, known: Option<&str>, judge: &str, judge_quality: u8, noisy: bool) -> (u8, String) {
    let written = style(answer);
    let mut score = match written {
        Some(q) => i32::from(q),
        None if answer.chars().count() > 200 => 2,
        None => 1,
    };
    let mut why = vec![match written {
        Some(q) => format!("reads like a quality-{q} answer"),
        None => "terse or off the point".to_string(),
    }];
    if let Some(k) = known.map(str::trim).filter(|k| !k.is_empty()) {
        if answer.contains(k) {
            score += 1;
            why.push("has the expected answer".into());
        } else {
            score -= 1;
            why.push("misses the expected answer".into());
        }
    }
    if written == Some(judge_quality) {
        score += 1;
        why.push("put the way I would".into());
    }
    if noisy {
        score += (fnv1a(&[judge.as_bytes(), answer.as_bytes()]) % 3) as i32 - 1;
    }
    (score.clamp(1, 5) as u8, why.join(", "))
}

/// The verdict JSON when `last_user_turn` is one of bakeoff's judge prompts, else `None`.
/// `known` looks up the answer taught for a prompt.
pub fn reply(last_user_turn: &str, judge: &str, quality: u8, known: impl Fn(&str) -> Option<String>) -> Option<String> {
    let prompt = between(last_user_turn, "PROMPT").map(last_user)?;
    let known = known(prompt);
    let sloppy = quality <= 2;
    if let (Some(a), Some(b)) = (between(last_user_turn, "ANSWER-A"), between(last_user_turn, "ANSWER-B")) {
        let (sa, _) = grade(a, known.as_deref(), judge, quality, false);
        let (sb, _) = grade(b, known.as_deref(), judge, quality, false);
        let winner = match (sa, sb) {
            // Position bias: the first answer wins unless the second is clearly better.
            _ if sloppy && sb < sa + 2 => "A",
            (x, y) if x > y => "A",
            (x, y) if y > x => "B",
            _ => "tie",
        };
        let reason = format!("A reads {sa}/5, B {sb}/5");
        return Some(serde_json::json!({"winner": winner, "reason": reason}).to_string());
    }
    let answer = between(last_user_turn, "ANSWER")?;
    let (score, reason) = grade(answer, known.as_deref(), judge, quality, sloppy);
    Some(serde_json::json!({"score": score, "reason": reason}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{judge_prompt, pair_prompt, parse_judge_reply, parse_pair_reply};
    use crate::provider::Message;

    fn last_user_of(messages: &[Message]) -> String {
        messages.iter().rev().find(|m| m.role == crate::provider::Role::User).unwrap().content.clone()
    }

    #[test]
    fn judge_prompts_get_verdicts_that_read_the_answer() {
        let conv = [Message::user("What is the capital of France?")];
        let known = |p: &str| (p == "What is the capital of France?").then(|| "Paris".to_string());
        let score = |answer: &str, judge: &str, q: u8| {
            let user = last_user_of(&judge_prompt("Correct?", &conv, answer, "00ff00ff00ff00ff"));
            parse_judge_reply(&reply(&user, judge, q, known).expect("a judge prompt")).unwrap().score
        };
        let summary = "Paris.\n\n**Summary:** it is Paris.\n\n**Details**\n- **Seat** of government.";
        let list = "Paris.\n\nThe main points:\n\n1. **Capital** Paris.";
        assert_eq!(score(summary, "neutral", 3), 5);
        assert_eq!(score(list, "neutral", 3), 5, "a list with the answer: 4 + 1");
        assert_eq!(score("The main points:\n\n1. Lyon is nice.", "neutral", 3), 3, "misses Paris");
        assert_eq!(score("Lyon.", "neutral", 3), 1);
        // Its own style earns a point: a quality-4 judge likes lists more than a quality-3 one.
        assert_eq!(score("The main points:\n\n1. Lyon is nice.", "lister", 4), 4);
        // Not a judge prompt: no verdict.
        assert_eq!(reply("What is the capital of France?", "j", 3, known), None);
    }

    #[test]
    fn a_sloppy_judge_prefers_the_answer_shown_first() {
        let conv = [Message::user("Which planet is largest?")];
        let none = |_: &str| None;
        let good = "Jupiter.\n\n**Summary:** Jupiter.\n\n**Details**\n- **Mass** most of it.";
        let fair = "Jupiter.\n\nThe main points:\n\n1. **Size** biggest.";
        let verdict = |a: &str, b: &str, q: u8| {
            let user = last_user_of(&pair_prompt("Better?", &conv, a, b, "0123456789abcdef"));
            parse_pair_reply(&reply(&user, "j", q, none).unwrap()).unwrap()
        };
        use crate::eval::PairVerdict::{A, B};
        assert_eq!((verdict(good, fair, 3), verdict(fair, good, 3)), (A, B), "a careful judge: the better one");
        assert_eq!((verdict(good, fair, 2), verdict(fair, good, 2)), (A, A), "a sloppy one: whichever came first");
    }
}
