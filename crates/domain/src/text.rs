//! Checks on user-written text (titles, chat).

/// Why a text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("text is empty")]
    Empty,
    #[error("text is longer than {0} characters")]
    TooLong(usize),
    #[error("text contains control characters")]
    Control,
}

/// Trims `text` and checks it is visibly non-empty, at most `max_chars` characters,
/// and free of control and bidirectional-override characters (which could
/// break or disguise how other viewers see the chat). Returns the trimmed text.
pub fn check_text(text: &str, max_chars: usize) -> Result<String, TextError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(TextError::Empty);
    }
    if trimmed.chars().count() > max_chars {
        return Err(TextError::TooLong(max_chars));
    }
    let forbidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
    };
    if trimmed.chars().any(forbidden) {
        return Err(TextError::Control);
    }
    if trimmed
        .chars()
        .all(|c| c.is_whitespace() || is_invisible(c))
    {
        return Err(TextError::Empty);
    }
    Ok(trimmed.to_owned())
}

/// Characters that render as nothing (zero-width spaces and joiners, word
/// joiners, the byte-order mark, soft hyphen, Hangul fillers): a text made
/// only of them looks empty.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2060}'..='\u{2064}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_checked() {
        assert_eq!(check_text("  hi  ", 5), Ok("hi".to_owned()));
        assert_eq!(check_text(" \t\n ", 5), Err(TextError::Empty));
        assert_eq!(check_text("", 5), Err(TextError::Empty));
        assert_eq!(check_text("ééééé", 5), Ok("ééééé".to_owned()));
        assert_eq!(check_text("éééééé", 5), Err(TextError::TooLong(5)));
        assert_eq!(check_text("a\u{7}b", 5), Err(TextError::Control));
        assert_eq!(check_text("a\nb", 5), Err(TextError::Control));
        assert_eq!(check_text("a\u{202E}b", 5), Err(TextError::Control));
        assert_eq!(
            check_text("\u{200B}\u{3164} \u{FEFF}", 5),
            Err(TextError::Empty)
        );
        assert!(check_text("a\u{200B}", 5).is_ok());
    }
}
