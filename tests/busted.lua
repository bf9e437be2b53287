-- Runs the busted specs inside grok-spicy, so they exercise the embedded modules.
require("busted.runner")({ standalone = false })
