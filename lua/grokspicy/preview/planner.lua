-- planner.lua — the offline story planner: reads a concept's cast (people by
-- role, animals, creatures, robots; how many; whose), its places, weather,
-- time of day and verbs with the lexicon (grokspicy.preview.lexicon), and
-- writes a StoryPlan the local renderer draws: every scene's setting names the
-- place, time and weather it shows, every action names the motion the cast
-- makes first, every description names the colours and clothes the figure
-- wears. Deterministic: the same concept, scene count and seed give the same
-- plan.
--
--   local planner = require "grokspicy.preview.planner"
--   local plan = planner.plan("a lighthouse keeper befriends a storm", { scenes = 3, seed = 1 })
local lexicon = require "grokspicy.preview.lexicon"
local preview = require "grokspicy.preview"

local M = {}

-- ---- randomness: splitmix64 over the concept's FNV-1a hash and the seed ----

local function hash(s, h)
  h = h ~ -3750763034362895579 -- 0xcbf29ce484222325
  for i = 1, #s do h = (h ~ s:byte(i)) * 1099511628211 end
  return h
end

local function new_rng(concept, seed)
  local state = hash(concept, seed or 0)
  local r = {}
  function r.next()
    state = state + -7046029254386353131 -- 0x9e3779b97f4a7c15
    local z = state
    z = (z ~ (z >> 30)) * -4658895280553007687
    z = (z ~ (z >> 27)) * -7723592293110705685
    return z ~ (z >> 31)
  end
  function r.int(n)
    return (r.next() >> 1) % n + 1
  end
  function r.pick(list)
    return list[r.int(#list)]
  end
  return r
end

-- ---- words ------------------------------------------------------------------

local colour_set = {}
for _, c in ipairs(preview.vocabulary().colour) do colour_set[c] = true end

local function tokenize(text)
  local toks = {}
  for piece in text:lower():gmatch("[%w'%-]+[,%.;:!?]?") do
    local word, punct = piece:match("^(.-)([,%.;:!?]?)$")
    word = word:gsub("^'+", ""):gsub("'+$", "")
    if word ~= "" then toks[#toks + 1] = word end
    if punct ~= "" then toks[#toks + 1] = "," end
  end
  return toks
end

local function singular(w)
  if w:match("ies$") then return w:sub(1, -4) .. "y" end
  if w:match("ves$") then return w:sub(1, -4) .. "f" end
  if w:match("[sxz]es$") or w:match("[cs]hes$") then return w:sub(1, -3) end
  if w:match("[^s]s$") then return w:sub(1, -2) end
  return w
end

-- Multiword keys of a group by their first word, longest first.
local function key_index(group)
  local by_first = {}
  for _, key in ipairs(lexicon.sorted_keys(group)) do
    local words = {}
    for w in key:gmatch("%S+") do words[#words + 1] = w end
    local list = by_first[words[1]] or {}
    list[#list + 1] = { key = key, words = words }
    by_first[words[1]] = list
  end
  for _, list in pairs(by_first) do
    table.sort(list, function(a, b) return #a.words > #b.words or (#a.words == #b.words and a.key < b.key) end)
  end
  return by_first
end

-- The key of group matching toks at i (longest first; a single word may be
-- plural): key, words used, entry, plural.
local function match(index, group, toks, i)
  for _, first in ipairs { toks[i], singular(toks[i] or "") } do
    for _, cand in ipairs(index[first] or {}) do
      local ok, n = true, #cand.words
      for k = 2, n do
        local t = toks[i + k - 1]
        if t ~= cand.words[k] and (k < n or singular(t or "") ~= cand.words[k]) then
          ok = false
          break
        end
      end
      if ok then
        local last = toks[i + n - 1]
        return cand.key, n, group[cand.key], last ~= cand.words[n] or (n == 1 and first ~= toks[i])
      end
    end
  end
end

local indexes, verb_forms -- built for each plan, from the lexicon as it is then

local function build_indexes()
  indexes = {}
  for _, name in ipairs { "people", "animals", "creatures", "robots", "places", "weather", "times", "verbs" } do
    indexes[name] = key_index(lexicon[name])
  end
  verb_forms = {}
  for _, base in ipairs(lexicon.sorted_keys(lexicon.verbs)) do
    if not base:find(" ") then
      local s, ing, past = lexicon.forms(base, lexicon.verbs[base])
      for _, f in ipairs { base, s, ing, past } do verb_forms[f] = verb_forms[f] or base end
    end
  end
end

local articles = { a = true, an = true, the = true, ["this"] = true, that = true, my = true, our = true, your = true }
local adjectives = { little = true, tiny = true, small = true, big = true, giant = true, huge = true, old = true,
  elderly = true, young = true, brave = true, clever = true, shy = true, grumpy = true, lonely = true, friendly = true,
  curious = true, sleepy = true, kind = true, busy = true, quiet = true, dark = true, bright = true, magical = true,
  enchanted = true, haunted = true, secret = true, hidden = true, tall = true, sandy = true, rocky = true,
  crowded = true, noisy = true, peaceful = true, lost = true, broken = true, new = true, ancient = true,
  mysterious = true, cosy = true, cozy = true, wild = true, happy = true, sad = true, silly = true }
local female_words = { woman = true, girl = true, she = true, her = true, lady = true, mother = true, mum = true,
  mom = true, sister = true, aunt = true, grandmother = true, grandma = true, granny = true, queen = true,
  princess = true, daughter = true, granddaughter = true, fisherwoman = true, postwoman = true, cowgirl = true,
  waitress = true, ballerina = true }
local male_words = { man = true, boy = true, he = true, his = true, gentleman = true, father = true, dad = true,
  brother = true, uncle = true, grandfather = true, grandpa = true, king = true, prince = true, son = true,
  grandson = true, fisherman = true, postman = true, cowboy = true }
local feature_nouns = { hair = "hair", beard = "beard", moustache = "moustache", mustache = "moustache",
  eyes = "eyes", eye = "eyes", scarf = "scarf", fur = "body", feathers = "body", scales = "body", coat = "top",
  raincoat = "top", jacket = "top", sweater = "top", jumper = "top", shirt = "top", hoodie = "top", dress = "top",
  robe = "top", cloak = "top", cardigan = "top", overalls = "top", uniform = "top", apron = "apron",
  trousers = "legs", jeans = "legs", skirt = "legs", shorts = "legs", boots = "shoes", shoes = "shoes",
  hat = "hat", cap = "hat", beanie = "hat", helmet = "hat", hood = "hat", crown = "hat", beret = "hat",
  ["sou'wester"] = "hat", glasses = "glasses", spectacles = "glasses", bearded = "beard" }
local object_stops = { together = true, ["and"] = true, with = true, ["for"] = true, ["while"] = true,
  before = true, after = true, from = true, to = true, ["until"] = true, because = true, so = true }

-- ---- reading a concept ------------------------------------------------------

local function cast_group(toks, i)
  for _, g in ipairs { "people", "robots", "creatures", "animals" } do
    local key, n, entry, plural = match(indexes[g], lexicon[g], toks, i)
    if key then return g, key, n, entry, plural end
  end
end

-- Where a place starts at toks[i], after adjectives, weather and season words
-- ("the foggy city streets", "an autumn forest"): place key, first index after
-- it, entry, and what the words before it said ({ weather = {...}, season = }).
local function place_at(toks, i)
  local k, mods = i, { weather = {} }
  if articles[toks[k] or ""] then k = k + 1 end
  for _ = 1, 3 do
    local t = toks[k] or ""
    if lexicon.weather[t] then
      mods.weather[#mods.weather + 1] = t
    elseif lexicon.seasons[t] then
      mods.season = lexicon.seasons[t]
    elseif not (adjectives[t] or colour_set[t]) then
      break
    end
    k = k + 1
  end
  local key, n, entry = match(indexes.places, lexicon.places, toks, k)
  if not key then return nil end
  -- "the school garden": the head noun is the last place of a run
  local k2, n2, e2 = match(indexes.places, lexicon.places, toks, k + n)
  if k2 then return k2, k + n + n2, e2, mods, k + n end
  return key, k + n, entry, mods, k
end

-- What the words before a place said joins the story.
local function take_mods(story, mods)
  for _, w in ipairs(mods.weather) do story.weather[#story.weather + 1] = { key = w, entry = lexicon.weather[w] } end
  if mods.season then story.season = mods.season end
end

local feature_starts = { with = true, ["in"] = true, wearing = true, whose = true, ["who"] = true }

-- "with a grey beard and amber eyes", "in a yellow raincoat": colour + thing
-- pairs after a member's noun. Reading stops at anything else: a verb, a
-- place, another member ("and a grey owl").
local function read_features(toks, i, member)
  if not feature_starts[toks[i] or ""] then return i end
  if toks[i] == "in" and place_at(toks, i + 1) then return i end -- "in the forest" is a place
  local j = i + 1
  while toks[j] and toks[j] ~= "," do
    local w = toks[j]
    if w == "and" then
      local nxt = toks[j + 1]
      if not nxt or cast_group(toks, j + 1) or (articles[nxt] and cast_group(toks, j + 2))
        or (articles[nxt] and (colour_set[toks[j + 2] or ""] or adjectives[toks[j + 2] or ""]) and cast_group(toks,
          j + 3))
        or verb_forms[nxt] then break end
    elseif (lexicon.at_words[w] and w ~= "in") or lexicon.toward_words[w] then
      break
    elseif verb_forms[w] and not feature_nouns[w] and not colour_set[w] then
      break
    elseif articles[w] and cast_group(toks, j + 1) then
      break
    end
    if colour_set[w] then
      local tone = (toks[j - 1] == "dark" or toks[j - 1] == "light" or toks[j - 1] == "pale") and toks[j - 1] or nil
      for k = j + 1, j + 3 do
        local thing = toks[k]
        if not thing or colour_set[thing] then break end
        local slot = feature_nouns[thing]
        if slot then
          member.features[#member.features + 1] = { slot = slot, colour = w, tone = tone, noun = thing,
            phrase = table.concat(toks, " ", j, k) }
          break
        end
      end
    elseif feature_nouns[w] == "beard" or feature_nouns[w] == "glasses" then
      member.features[#member.features + 1] = { slot = feature_nouns[w], noun = w }
    elseif w == "long" or w == "short" or w == "curly" or w == "bald" then
      member.hair_style = w
    end
    j = j + 1
  end
  return j
end

local function new_member(group, key, entry, i, adjs)
  local m = { group = group, key = key, entry = entry, adjs = adjs, features = {}, pos = i }
  for _, a in ipairs(adjs) do
    if colour_set[a] then m.colour = m.colour or a end
    if a == "old" or a == "elderly" then m.age = "old" end
    if a == "young" or a == "little" then m.age = m.age or "young" end
  end
  return m
end

-- A member read at toks[i]: the member and the index after its features.
local function read_member(story, toks, i, adjs, count)
  local g, key, n, entry, plural = cast_group(toks, i)
  local m = new_member(g, key, entry, i, adjs)
  m.count = count or (plural and 2) or 1
  story.cast[#story.cast + 1] = m
  return m, read_features(toks, i + n, m)
end

-- A verb at toks[i], also an inflected multiword one ("puts out").
local function find_verb(toks, i)
  local base = verb_forms[toks[i] or ""]
  local probe = toks
  if base and base ~= toks[i] then
    probe = { table.unpack(toks) }
    probe[i] = base
  end
  local key, n, entry = match(indexes.verbs, lexicon.verbs, probe, i)
  if key and n > 1 then return key, n, entry end
  if base then return base, 1, lexicon.verbs[base] end
end

-- The words after a verb that say what it acts on ("a mystery", "a broken
-- kite"). A place there is where the story happens ("search the park for a
-- lost ball": the park, then the ball; "explore mars": only the place); one of
-- the cast there is the one acted on ("rescues a kitten").
local function read_object(toks, i, story)
  local j = i
  local pkey, after, pentry, mods = place_at(toks, j)
  if pkey then
    story.places[#story.places + 1] = { key = pkey, entry = pentry }
    story.place_object = story.place_object or pkey
    take_mods(story, mods)
    j = after
    if toks[j] ~= "for" then return nil, j end
    j = j + 1
  elseif toks[j] == "for" then
    j = j + 1
  end
  local k = articles[toks[j] or ""] and j + 1 or j
  while adjectives[toks[k] or ""] or colour_set[toks[k] or ""] do k = k + 1 end
  if cast_group(toks, k) then
    local adjs = {}
    for q = j, k - 1 do if not articles[toks[q]] then adjs[#adjs + 1] = toks[q] end end
    local m, next_j = read_member(story, toks, k, adjs, nil)
    return { member = m, text = m.key }, next_j
  end
  local words = {}
  while toks[j] and toks[j] ~= "," do
    local w = toks[j]
    if lexicon.at_words[w] or lexicon.toward_words[w] or object_stops[w] then break end
    words[#words + 1] = w
    j = j + 1
  end
  if #words == 0 then return nil, j end
  local obj = { words = words }
  local start = articles[words[1]] and 2 or 1
  obj.article = start == 2 and words[1] or nil
  obj.text = table.concat(words, " ", start)
  for q = start, #words do
    local wkey, _, went = match(indexes.weather, lexicon.weather, words, q)
    if wkey and went.noun then obj.weather = wkey end
  end
  if obj.text == "" then return nil, j end
  return obj, j
end

-- A verb at toks[i] (known to be one): "learns to dance" tells the dance,
-- "goes camping" the camping. Returns the verb record and the next index.
local function read_verb(story, toks, i)
  local vkey, vn, ventry = find_verb(toks, i)
  local go = lexicon.verbs.go
  if ventry == go and toks[i + 1] and toks[i + 1]:match("ing$") and verb_forms[toks[i + 1]] then
    vkey = verb_forms[toks[i + 1]]
    ventry, vn = lexicon.verbs[vkey], 2
  elseif lexicon.lead_verbs[vkey] and toks[i + vn] == "to" then
    local k2, n2, e2 = find_verb(toks, i + vn + 1)
    if k2 then vkey, ventry, vn = k2, e2, vn + 1 + n2 end
  end
  local v = { key = vkey, entry = ventry }
  local next_i
  v.object, next_i = read_object(toks, i + vn, story)
  return v, next_i
end

local function is_modifier(w)
  return articles[w] or colour_set[w] or adjectives[w] or lexicon.numbers[w] or w == "and" or w == "her"
    or w == "his" or w == "their"
end

local function read_concept(concept)
  local toks = tokenize(concept)
  local story = { cast = {}, places = {}, weather = {}, times = {}, verbs = {}, style = {}, toks = toks }
  local adjs, count, owner = {}, nil, nil
  local i = 1
  while i <= #toks do
    local w = toks[i]
    local g, _, n = cast_group(toks, i)
    local pkey, pafter, pentry, pmods, pstart = place_at(toks, i)
    if pkey then
      -- "a lighthouse keeper": a member whose name starts with a place is the member
      local _, _, cn = cast_group(toks, pstart)
      if cn and pstart + cn > pafter then pkey = nil end
    end
    -- "a chef cooks": after the cast, a bare word that is also a verb is the verb
    if g and #story.cast > 0 and verb_forms[w] and not is_modifier(toks[i - 1] or "") then g = nil end
    if g and not (pkey and pafter > i + n) then
      local m, next_i = read_member(story, toks, i, adjs, count)
      m.owner = owner
      adjs, count, owner = {}, nil, nil
      i = next_i
    elseif pkey and not verb_forms[w] then
      local prep
      for back = 1, 3 do
        local p = toks[i - back]
        if p and (lexicon.toward_words[p] or lexicon.at_words[p]) then
          prep = p
          break
        end
        if p and not (articles[p] or adjectives[p] or colour_set[p] or lexicon.seasons[p] or lexicon.weather[p]
          or lexicon.times[p]) then break end
      end
      story.places[#story.places + 1] = { key = pkey, entry = pentry, prep = prep,
        toward = prep and lexicon.toward_words[prep] or false, via = prep and lexicon.via_words[prep] or false }
      take_mods(story, pmods)
      adjs = {}
      i = pafter
    elseif (verb_forms[w] or match(indexes.verbs, lexicon.verbs, toks, i)) and #story.cast > 0 and #story.verbs == 0
      and not articles[toks[i - 1] or ""] then
      local v, next_i = read_verb(story, toks, i)
      story.verbs[#story.verbs + 1] = v
      i = next_i
    else
      local wkey, wn, wentry = match(indexes.weather, lexicon.weather, toks, i)
      local tkey, tn, tentry = match(indexes.times, lexicon.times, toks, i)
      if wkey then story.weather[#story.weather + 1] = { key = wkey, entry = wentry } end
      if tkey then story.times[#story.times + 1] = { key = tkey, entry = tentry } end
      if lexicon.seasons[w] then story.season = lexicon.seasons[w] end
      if w == "watercolor" or w == "watercolour" then story.style.water = true end
      if w == "pixel" or w == "8-bit" or w == "retro" then story.style.pixel = true end
      if w == "noir" then story.style.noir = true end
      if lexicon.numbers[w] then count = lexicon.numbers[w] end
      if (w == "her" or w == "his" or w == "their") and #story.cast > 0 then
        owner = story.cast[#story.cast]
        if w ~= "their" then owner.gender_hint = owner.gender_hint or (w == "her" and "f" or "m") end
      end
      if colour_set[w] or adjectives[w] then adjs[#adjs + 1] = w end
      i = i + math.max(wn or 1, tn or 1)
    end
  end
  return story
end

-- ---- text helpers -------------------------------------------------------------

local function title_case(s)
  local small = { a = true, an = true, the = true, ["and"] = true, ["or"] = true, of = true, to = true, ["in"] = true,
    on = true, at = true, ["for"] = true, with = true, by = true, up = true }
  local out, first = {}, true
  for word in s:gmatch("%S+") do
    if first or not small[word:lower()] then word = word:sub(1, 1):upper() .. word:sub(2) end
    out[#out + 1] = word
    first = false
  end
  return table.concat(out, " ")
end

local function cap(s)
  return (s:gsub("^%l", string.upper))
end

local function article(word)
  return word:match("^[aeiou]") and "an" or "a"
end

local function join(list, conj)
  if #list <= 1 then return list[1] or "" end
  if #list == 2 then return list[1] .. " " .. (conj or "and") .. " " .. list[2] end
  return table.concat(list, ", ", 1, #list - 1) .. ", " .. (conj or "and") .. " " .. list[#list]
end

-- ---- the cast ---------------------------------------------------------------

local function feature(m, slot)
  for _, f in ipairs(m.features) do
    if f.slot == slot then return f end
  end
end

local function pick_gender(m, rng)
  if m.entry.gender then return m.entry.gender end
  if feature(m, "beard") then return "m" end
  if m.gender_hint then return m.gender_hint end
  for w in m.key:gmatch("%S+") do
    if female_words[w] then return "f" end
    if male_words[w] then return "m" end
  end
  return rng.int(2) == 1 and "f" or "m"
end

local function name_for(m, rng, used)
  local pools = lexicon.names
  local pool
  if m.kind == "person" then
    pool = m.age == "old" and (m.gender == "f" and pools.old_f or pools.old_m) or pools[m.gender]
  elseif m.group == "robots" then
    pool = pools.robot
  else
    pool = pools[m.draw] or pools[lexicon.colour_family[m.colour] or "brown"] or pools.brown
  end
  local start = rng.int(#pool)
  for k = 0, #pool - 1 do
    local n = pool[(start + k - 1) % #pool + 1]
    if not used[n] then
      used[n] = true
      return n
    end
  end
  for _, p in ipairs { pools.f, pools.m, pools.robot } do
    for _, n in ipairs(p) do
      if not used[n] then
        used[n] = true
        return n
      end
    end
  end
  return "Friend"
end

local hair_colours = { "brown", "black", "auburn", "blonde", "chestnut" }
local eye_colours = { "brown", "green", "blue", "amber" }
local skins = { "light", "olive", "brown", "tan", "fair" }

local function dress_person(m, rng)
  local e = m.entry
  m.age = m.age or (e.age == "old" and "old") or nil
  m.child = e.age == "child" or m.age == "young"
  m.outfit = {}
  for _, item in ipairs(e.outfit or { "blue jacket", "grey trousers",
    "brown shoes" }) do m.outfit[#m.outfit + 1] = item end
  -- the concept's own colours replace the matching piece ("in a green coat")
  for _, f in ipairs(m.features) do
    local clothes = f.slot == "top" or f.slot == "legs" or f.slot == "shoes" or f.slot == "hat" or f.slot == "apron"
    if f.colour and clothes then
      local replaced = false
      for k, item in ipairs(m.outfit) do
        local word = item:match("(%S+)$")
        local slot = feature_nouns[word] or (item:find("hat") and "hat")
        if slot == f.slot and not replaced then
          m.outfit[k] = (f.phrase:gsub("^%a+ ", (f.tone and f.tone .. " " or "") .. f.colour .. " ", 1))
          replaced = true
        end
      end
      if not replaced then m.outfit[#m.outfit + 1] = f.phrase end
    end
  end
  local hair = feature(m, "hair")
  m.hair = hair and hair.colour or (m.age == "old" and "grey" or rng.pick(hair_colours))
  m.hair_style = m.hair_style or e.hair or (m.gender == "f" and rng.pick { "long", "long", "ponytail",
    "bun" } or "short")
  local beard = feature(m, "beard")
  m.beard = (beard ~= nil) or (e.beard and m.gender == "m" and not m.child) or false
  m.beard_colour = beard and beard.colour or m.hair
  m.glasses = feature(m, "glasses") ~= nil or e.glasses or false
  local eyes = feature(m, "eyes")
  m.eyes = eyes and eyes.colour or rng.pick(eye_colours)
  m.skin = rng.pick(skins)
  m.colour = m.outfit[1]:match("^(%a+)") or "blue"
end

-- The figure a member is drawn as: its kind, colours and, for a person, clothes.
local function dress(m, rng)
  m.draw = m.entry.draw
  m.info = preview.kind_info(m.draw) or preview.kind_info("creature")
  m.kind = m.info.family == "person" and "person" or (m.group == "robots" and "robot" or "animal")
  if m.kind == "person" then
    m.gender = pick_gender(m, rng)
    dress_person(m, rng)
  else
    local body = feature(m, "body")
    m.colour = m.colour or (body and body.colour) or m.entry.colour or m.info.body
    local eyes = feature(m, "eyes")
    m.eyes = eyes and eyes.colour or m.info.eye
    local scarf = feature(m, "scarf")
    m.scarf = scarf and scarf.colour
    m.gender = m.gender_hint or (rng.int(2) == 1 and "f" or "m")
  end
end

local function pronoun(m)
  if m.kind == "robot" then return "it", "its" end
  return m.gender == "f" and "she" or "he", m.gender == "f" and "her" or "his"
end

local plural_garments = { trousers = true, jeans = true, shorts = true, boots = true, shoes = true, overalls = true,
  glasses = true, whites = true }

local function describe_person(m)
  local she, her = pronoun(m)
  local age = m.age == "old" and "older" or m.child and "young" or "grown"
  local who = m.child and (m.gender == "f" and "girl" or "boy") or (m.gender == "f" and "woman" or "man")
  local hair_words = {
    long = "long " .. m.hair .. " hair", short = "short " .. m.hair .. " hair", curly = "curly " .. m.hair .. " hair",
    bald = "a bald head with a little " .. m.hair .. " hair at the sides", bun = m.hair .. " hair tied up in a bun",
    ponytail = m.hair .. " hair in a ponytail",
  }
  local looks = ("%s %s with %s%s, %s skin and warm %s eyes."):format(age, who, hair_words[m.hair_style] or
    hair_words.short, m.beard and (", a thick " .. m.beard_colour .. " beard") or "", m.skin, m.eyes)
  local plain = { girl = true, boy = true, child = true, kid = true, woman = true, man = true }
  local parts = {}
  if plain[m.key] then
    parts[#parts + 1] = ("%s is %s %s"):format(m.name, article(age), looks)
  else
    parts[#parts + 1] = ("%s is %s %s: %s %s"):format(m.name, article(m.key), m.key, article(age), looks)
  end
  local worn = {}
  for _, item in ipairs(m.outfit) do
    local last = item:match("(%S+)$")
    worn[#worn + 1] = (plural_garments[last] and "" or (article(item) .. " ")) .. item
  end
  parts[#parts + 1] = ("%s wears %s."):format(cap(she), join(worn))
  if m.glasses then parts[#parts + 1] = ("Round dark glasses sit on %s nose."):format(her) end
  local cues = m.info.cues
  parts[#parts + 1] = ("%s is %s, %s and %s."):format(cap(she), cues[1], cues[2], cues[3])
  parts[#parts + 1] = ("%s stands upright in a friendly storybook pose, facing the viewer, drawn with clean shapes, "
    .. "a dark outline and soft painterly shading."):format(m.name)
  parts[#parts + 1] = ("Consistency notes: the %s stays exactly the same in every image, never another colour and "
    .. "never patterned; the %s hair%s, the %s eyes and the proportions never change."):format(m.outfit[1], m.hair,
    m.beard and (", the " .. m.beard_colour .. " beard") or "", m.eyes)
  return table.concat(parts, " ")
end

local function describe_animal(m)
  local info, body, cover = m.info, m.colour, m.info.cover
  local she, her = pronoun(m)
  local parts = {}
  if m.kind == "robot" then
    parts[#parts + 1] = ("%s is a small %s %s with smooth %s plating and a %s chest panel."):format(m.name, body,
      m.key, body, info.belly)
    parts[#parts + 1] = ("%s has large round glowing eyes on a square head, with dark pupils and a bright white "
      .. "highlight, and a thin antenna with a glowing tip."):format(m.name)
    parts[#parts + 1] = "Two jointed arms and two short legs move with a soft whirr."
  else
    parts[#parts + 1] = ("%s is a small %s %s with soft %s %s and a %s chest and belly."):format(m.name, body,
      m.key, body, cover, info.belly)
    local ears = { pointy = ", tall pointed ears", round = ", small rounded ears", long = ", long upright ears",
      tuft = ", two feather tufts like ears", floppy = ", soft floppy ears", horns = ", two short pale horns",
      big = ", big flapping ears" }
    local x = info.extras
    parts[#parts + 1] = ("%s has large round %s eyes with dark pupils and a bright white highlight%s%s."):format(m.name,
      m.eyes, ears[info.ears] or "", x.beak and " and a short orange beak" or x.muzzle and " and a small black nose"
      or x.snout and " and a round pink snout" or x.trunk and " and a long curling trunk" or "")
    local tails = { bushy = "A big bushy tail curls behind " .. m.name .. ".", thin = "A thin tail curls behind.",
      short = "A short tail peeks out behind.", curly = "A curly little tail twists behind.",
      dragon = "A long pointed tail sweeps behind." }
    if tails[info.tail] then parts[#parts + 1] = tails[info.tail] end
    if x.wings then parts[#parts + 1] = "Folded wings a shade darker than the body rest at the sides." end
    if x.shell then parts[#parts + 1] = ("A domed %s shell with darker plates covers %s back."):format(body, her) end
    if x.spikes then parts[#parts + 1] = "A crest of short spikes runs along the back." end
    if x.horn then parts[#parts + 1] = "A single golden horn rises from the forehead." end
  end
  if m.scarf then parts[#parts + 1] = ("%s always wears a %s scarf around the neck."):format(m.name, m.scarf) end
  local cues = info.cues
  parts[#parts + 1] = ("%s is %s, %s and %s."):format(cap(she), cues[1], cues[2], cues[3])
  parts[#parts + 1] = ("%s stands upright in a friendly storybook pose, facing the viewer, drawn with a darker %s "
    .. "outline and soft painterly shading."):format(m.name, body)
  local cover_word = m.kind == "robot" and "plating" or cover
  local are = lexicon.plural_covers[cover_word] and "are" or "is"
  parts[#parts + 1] = ("Consistency notes: the %s %s %s identical in every image, never another colour and never "
    .. "patterned; the %s eyes, the %s belly and the proportions never change."):format(body, cover_word, are,
    m.kind == "robot" and "glowing" or m.eyes, info.belly)
  return table.concat(parts, " ")
end

local function expand_cast(story, rng)
  local members = {}
  for _, m in ipairs(story.cast) do
    for k = 1, math.min(m.count or 1, 3) do
      if #members >= 3 then break end
      local copy = {}
      for a, b in pairs(m) do copy[a] = b end
      copy.count = 1
      if k > 1 then
        copy.features, copy.colour, copy.twin, copy.source = {}, nil, true, m
      end
      copy.source = copy.source or m
      members[#members + 1] = copy
    end
  end
  if #members == 0 then
    -- nothing the lexicon knows: a traveller carries the story
    members[1] = { group = "people", key = "traveller", entry = lexicon.people.traveller, adjs = {}, features = {},
      pos = 0, fallback = true }
    members[1].source = members[1]
  end
  local used = {}
  for _, m in ipairs(members) do
    dress(m, rng)
    if m.twin and m.kind ~= "person" then
      -- the second of a pair gets another colour, so the two can be told apart
      local alt = { silver = "copper", copper = "silver", orange = "brown", brown = "grey", grey = "tan",
        white = "cream",
        ginger = "brown", black = "grey" }
      m.colour = alt[m.colour] or "brown"
    end
    m.name = name_for(m, rng, used)
  end
  for _, m in ipairs(members) do -- owners by name: "Nell's dog"
    if m.owner then
      for _, o in ipairs(members) do
        if o.source == m.owner then m.owner_name = m.owner_name or o.name end
      end
    end
  end
  return members
end

local function role_of(m, i)
  local roles = { "protagonist", "companion", "friend" }
  if m.owner_name then return ("%s — %s's %s"):format(roles[i] or "friend", m.owner_name, m.key) end
  return ("%s — the %s"):format(roles[i] or "friend", m.key)
end

-- ---- story shapes ---------------------------------------------------------------

-- Each beat's action names its motion first (the renderer reads the first
-- motion word). <verb> marks a verb agreeing with the subject, <do> the
-- story's own verb, <done> the verb that ends it ("find" after a search).
-- text_obj / text_none replace text when there is no destination (with an
-- object / with nothing). subject "a": the first of the cast alone.
local shapes = {
  journey = {
    { motion = "walk", text = "{Who} <walk> {along}, ready to <do>{goal}.", title = { "Setting Out",
      "The Journey Begins" } },
    { motion = "verb", text = "{Who} <do> on {along}{toward}.", title = { "Halfway There", "On the Way" } },
    { motion = "celebrate", text = "{Who} <reach> {dest} at last and <cheer>.",
      text_obj = "{Who} <cheer> as {they} <catch> up with {the_obj} at last.",
      text_none = "{Who} <cheer> at the end of the journey, {at}.", title = { "Journey's End", "At Last" } },
  },
  voyage = {
    { motion = "verb", text = "{Who} <do> off {along}{toward}.", title = { "Setting Off", "Away We Go" } },
    { motion = "verb", text = "{Who} <do> on {along}, farther than ever before.", title = { "Far from Home",
      "On and On" } },
    { motion = "celebrate", text = "{Who} <reach> {dest} at last and <cheer>.",
      text_obj = "{Who} <cheer> as {they} <catch> up with {the_obj} at last.",
      text_none = "{Who} <cheer> at the end of the journey, {at}.", title = { "Journey's End", "At Last" } },
  },
  quest = {
    { motion = "walk", text = "{Who} <walk> {along}, ready to <do>{oprep} {an_obj}.", title = { "The First Clue",
      "A Strange Sign" } },
    { motion = "search", text = "{Who} <search> every corner of {place} and <point> at something odd.",
      title = { "Following the Trail", "A Closer Look" } },
    { motion = "celebrate", text = "{Who} <celebrate>, because at last {they} <done> {the_obj}.",
      title = { "The Answer", "Found at Last" } },
  },
  craft = {
    { motion = "walk", text = "{Who} <walk> {along}, ready to <do>{obj_sp}.", title = { "Getting Ready",
      "A Big Job" } },
    { motion = "work", text = "{Who} <work> hard {at}, {doing}{the_obj_sp} step by step.",
      title = { "Hard at Work", "Step by Step" } },
    { motion = "celebrate", text = "{Who} <cheer> as {they} <finish> {doing}{the_obj_sp}.",
      title = { "All Done", "A Job Well Done" } },
  },
  social = {
    { motion = "walk", text = "{Who} <walk> {along} and <notice> {an_obj}.", title = { "A First Meeting",
      "Someone New" } },
    { motion = "point", text = "{Who} <point> toward {the_obj} and <call> out a friendly hello.",
      title = { "A Brave Hello", "Reaching Out" } },
    { motion = "meet", text = "{Who} and {the_obj} <meet> face to face, and now they are friends.", plural = true,
      title = { "Friends at Last", "Together" } },
  },
  show = {
    { motion = "verb", text = "{Who} <do> {at} to warm up.", title = { "Warming Up", "Practice Makes Perfect" } },
    { motion = "jump", text = "{Who} <jump> up after a wobble and <do> again with all {their} heart.",
      title = { "A Little Wobble", "Try Again" } },
    { motion = "verb", text = "{Who} <do> for a cheering crowd {at}.", title = { "The Big Show", "Bravo!" } },
  },
  explore = {
    { motion = "walk", text = "{Who} <walk> {along}, curious about everything.", title = { "Setting Out",
      "A New Day" } },
    { motion = "search", text = "{Who} <search> {place} and <point> at a hidden path.", title = { "A Hidden Path",
      "Off the Map" } },
    { motion = "celebrate", text = "{Who} <cheer> at the end of the path, where the best view of {place} opens up.",
      title = { "The Best View", "Worth the Walk" } },
  },
  friends = {
    { motion = "walk", text = "{A} <walk> {along} and <spot> {B} for the first time.", subject = "a",
      title = { "A First Meeting", "Who Is That?" } },
    { motion = "talk", text = "{A} and {B} <talk> {at}, shy at first.", plural = true,
      title = { "Getting to Know You", "A Little Chat" } },
    { motion = "meet", text = "{A} and {B} <meet> again {at}, the best of friends now.", plural = true,
      title = { "Best Friends", "Friends at Last" } },
  },
}

-- Verbs whose story has its own words.
local special = {
  race = {
    { motion = "race", text = "{Who} <line> up {at} and <dash> off{race_to}.", title = { "Ready, Set, Go",
      "The Starting Line" } },
    { motion = "race", text = "{Who} <race> on {along}, neck and neck.", title = { "Neck and Neck",
      "Faster and Faster" } },
    { motion = "celebrate", text = "{Who} <reach> {dest} together and <cheer> at the finish line.",
      text_obj = "{Who} <cheer> together at the finish line, {at}.",
      text_none = "{Who} <cheer> together at the finish line, {at}.", title = { "The Finish Line", "Both Winners" } },
  },
  befriend = {
    { motion = "walk", text = "{Who} <walk> {along} and <watch> {the_obj} arrive.", title = { "Something Stirs",
      "A Visitor Comes" } },
    { motion = "point", text = "{Who} <point> up at {the_obj} and <call> out a friendly hello.",
      title = { "A Brave Hello", "Face to Face" } },
    { motion = "wave", text = "{Who} <wave> to {the_obj} as it turns calm and gentle: the two are friends now.",
      title = { "Friends at Last", "Calm After the Storm" } },
  },
  solve = {
    { motion = "walk", text = "{Who} <walk> {along} and <spy> the first clue to {the_obj}.",
      title = { "The First Clue", "A Strange Sign" } },
    { motion = "search", text = "{Who} <search> {place} for more clues and <point> at a hidden trail.",
      title = { "The Hidden Trail", "Following the Clues" } },
    { motion = "celebrate", text = "{Who} <celebrate>, because at last {they} <solve> {the_obj}.",
      title = { "Mystery Solved", "The Answer" } },
  },
  rescue = {
    { motion = "walk", text = "{Who} <walk> {along} and <hear> {the_obj} calling for help.",
      title = { "A Call for Help", "Trouble Ahead" } },
    { motion = "race", text = "{Who} <hurry> {along} to reach {the_obj}.", title = { "To the Rescue",
      "No Time to Lose" } },
    { motion = "meet", text = "{Who} <hug> {the_obj}: the rescue worked, and everyone is safe.",
      title = { "Safe and Sound", "Saved" } },
  },
  dance = {
    { motion = "dance", text = "{Who} <dance> as music drifts across {place}.", title = { "The First Note",
      "A Tune Begins" } },
    { motion = "dance", text = "{Who} <dance> on {along}, spinning and twirling.", title = { "Spinning Round",
      "In Step" } },
    { motion = "celebrate", text = "{Who} <cheer> and <take> a bow as the music ends.", title = { "The Final Bow",
      "Encore" } },
  },
  teach = {
    { motion = "walk", text = "{Who} <walk> {along} with {the_obj}, ready for a lesson.",
      title = { "The First Lesson", "A Good Teacher" } },
    { motion = "point", text = "{Who} <point> the way while {the_obj} <<practise>> again and again.",
      title = { "Practice", "Again and Again" } },
    { motion = "celebrate", text = "{Who} and {the_obj} <celebrate>: the lesson worked.", plural = true,
      title = { "Lesson Learned", "Well Done" } },
  },
  guard = {
    { motion = "walk", text = "{Who} <walk> {along}, keeping watch.", title = { "On Watch", "The Guard" } },
    { motion = "point", text = "{Who} <point> at a shape in the distance and <stand> tall.",
      title = { "Who Goes There?", "Standing Tall" } },
    { motion = "wave", text = "{Who} <wave> as all is calm again {at}.", title = { "All Is Well", "Safe Once More" } },
  },
  camp = {
    { motion = "walk", text = "{Who} <walk> {along} to find a good spot to camp.", title = { "A Good Spot",
      "Setting Up Camp" } },
    { motion = "work", text = "{Who} <work> together to pitch a tent {at}.", landmarks = { "tent" },
      title = { "Pitching the Tent", "Home for the Night" } },
    { motion = "celebrate", text = "{Who} <cheer> by the campfire as the stars come out.", landmarks = { "tent",
      "campfire" },
      time = "night", title = { "Under the Stars", "Campfire Night" } },
  },
}
special.protect = special.guard
special.save = special.rescue

local moods = {
  { "curious and hopeful", "bright and eager", "quiet and expectant" },
  { "tense and determined", "playful and busy", "mysterious and exciting" },
  { "warm and triumphant", "joyful and proud", "gentle and happy" },
}

-- How a landmark named by a story is mentioned in a setting.
local landmark_phrases = { tent = "a tent", campfire = "a crackling campfire", snowman = "a snowman",
  rocket = "a rocket", boat = "a little boat", truck = "a food truck", balloon = "a hot air balloon",
  windmill = "a windmill", bridge = "a bridge", house = "a cottage", barn = "a red barn", castle = "a castle",
  lighthouse = "a lighthouse", bench = "a bench", fence = "a fence", flowers = "flowers", trees = "trees",
  planet = "a ringed planet", table = "a table", window = "a window" }

-- Landmarks every such place draws anyway: never "beside flowers" in a garden.
local scenery = { flowers = true, trees = true, fence = true, hills = true, castle = true, peaks = true, rocks = true,
  waves = true }

-- ---- conjugation ---------------------------------------------------------------

local irregular = { be = { "is", "are" }, have = { "has", "have" }, ["do"] = { "does", "do" }, go = { "goes", "go" } }

-- "<walk>" agrees with the subject; "<<practise>>" always takes the singular
-- (its subject is the object, one thing).
local function conjugate(template, plural)
  template = template:gsub("<<([%a']+)>>", function(v) return (lexicon.forms(v, lexicon.verbs[v] or {})) end)
  return (template:gsub("<([%a']+)>", function(v)
    if irregular[v] then return irregular[v][plural and 2 or 1] end
    if plural then return v end
    return (lexicon.forms(v, lexicon.verbs[v] or {}))
  end))
end

-- The story's verb in a template: <do> agrees with the subject (bare after "to"),
-- <done> ends it, {doing} is its -ing form; "look for" keeps its "for".
local function place_verb(template, vb, entry)
  local first, rest = vb:match("^(%S+)(.*)$")
  local fin = entry.finish or vb
  local ffirst, frest = fin:match("^(%S+)(.*)$")
  local _, ing = lexicon.forms(first, entry)
  template = template:gsub("ready to <do>", "ready to " .. first .. rest)
  template = template:gsub("<done>", "<" .. ffirst .. ">" .. frest)
  template = template:gsub("<do>", "<" .. first .. ">" .. rest)
  return (template:gsub("{doing}", ing .. rest))
end

local function fill(template, vars)
  return (template:gsub("{([%w_]+)}", function(k) return vars[k] or ("{" .. k .. "}") end))
end

-- ---- places, light and weather --------------------------------------------------

local function place_entry(key)
  return lexicon.places[key] or lexicon.places.meadow
end

-- "along the rocky shore", "across the meadow", "through the forest", "around the kitchen".
local function walk_prep(key)
  local e = place_entry(key)
  return (e.along or lexicon.walk_preps[e.place] or "through") .. " " .. e.phrase
end

-- "on the rocky shore", "in the forest", "among the cloudtops".
local function at_prep(key)
  local e = place_entry(key)
  return (e.at or lexicon.at_preps[e.place] or "in") .. " " .. e.phrase
end

local function beat_of(s, n)
  if s == 1 and n > 1 then return 1 end
  if s == n then return 3 end
  return 2
end

-- Where each scene happens: the concept's place (or its destination at the
-- end), the cast's home when the concept names none.
local function plan_places(story, verb, n)
  local here, there
  for _, p in ipairs(story.places) do
    if p.toward and not there then there = p else here = here or p end
  end
  story.via, story.via_prep = here and here.via, here and here.prep
  local first = story.cast[1]
  local home_key = (first and first.entry.home) or "meadow"
  if not lexicon.places[home_key] then home_key = "meadow" end
  local start = here and here.key or home_key
  if not here and there and place_entry(start).place == place_entry(there.key).place then start = "meadow" end
  local keys = {}
  for s = 1, n do
    local key = start
    if there and (s == n or (n > 2 and s > n / 2)) then key = there.key end
    -- flying or racing up to the moon passes over the cloudtops
    if there and there.key == "moon" and n >= 3 and s > 1 and s < n and verb.entry.motion ~= "swim" then key = "sky" end
    keys[s] = key
  end
  return keys, there
end

local function plan_light(story, places, n)
  local times, weather = {}, {}
  local named = story.times[1]
  local night_place = false
  for _, key in ipairs(places) do
    local pl = place_entry(key).place
    if pl == "space" or pl == "moonscape" then night_place = true end
  end
  local w = story.weather[1]
  for s = 1, n do
    if named then
      times[s] = named.key
    elseif night_place then
      times[s] = "night"
    else
      local arc = lexicon.default_day
      times[s] = arc[math.min(#arc, math.floor((s - 1) * #arc / n) + 1)]
    end
    weather[s] = w and w.key or nil
  end
  -- befriending a storm lets it pass: clouds gather at dusk, it breaks in the
  -- night, the morning after has a rainbow
  if w and n >= 3 and story.weather_arc and not named then
    weather[1], weather[n] = "cloudy", "rainbow"
    if not night_place then
      for s = 1, n do times[s] = s == 1 and "evening" or s == n and "morning" or "night" end
    end
  end
  return times, weather
end

local function setting_text(key, time_key, weather_key, extras, season)
  local pl = place_entry(key)
  local phrase = pl.phrase
  if season == "autumn" and pl.place ~= "space" and pl.place ~= "moonscape" and pl.place ~= "underwater"
    and not lexicon.at_preps[pl.place] then
    phrase = phrase:match("^the ") and ("the autumn " .. phrase:sub(5)) or ("autumn " .. phrase)
  end
  local t = lexicon.times[time_key]
  local text = phrase .. (t and (" " .. t.phrase) or "")
  local w = weather_key and lexicon.weather[weather_key]
  if w then text = text .. ", with " .. w.phrase end
  for _, e in ipairs(extras) do text = text .. ", " .. e end
  return text
end

-- What the renderer should draw for a scene (tests read it back from the text).
local function intended(key, time_key, weather_key, landmarks, season)
  local pl = place_entry(key)
  local t = lexicon.times[time_key]
  local w = weather_key and lexicon.weather[weather_key]
  local lm = {}
  for _, l in ipairs(pl.landmarks) do lm[l] = true end
  for _, l in ipairs(landmarks) do lm[l] = true end
  if w and w.landmark then lm[w.landmark] = true end
  local weather = {}
  if w and w.weather ~= "clear" then weather[w.weather] = true end
  if w and w.also then weather[w.also] = true end
  return { place = pl.place, time = t and t.time or "day", weather = weather, landmarks = lm,
    autumn = season == "autumn" }
end

-- ---- the plan -------------------------------------------------------------------

-- No verb in the concept: the first member's own work ("bake bread" for a
-- baker), else a walk to explore.
local function default_verb(story)
  local first = story.cast[1]
  local phrase = first and first.entry.verb
  local toks = phrase and tokenize(phrase) or {}
  if not phrase or not verb_forms[toks[1]] then return { key = "explore", entry = lexicon.verbs.explore,
    implied = true } end
  local v = read_verb({ cast = {}, places = {}, weather = {} }, toks, 1)
  v.implied = true
  return v
end

local function style_of(story)
  if story.style.water then return "soft watercolour storybook illustration, textured paper, loose washes" end
  if story.style.pixel then return "crisp pixel-art look, limited palette, clean silhouettes" end
  if story.style.noir then return "moody film-noir illustration, deep shadows, single warm light" end
  return "warm storybook illustration, soft painterly shading, gentle rim light"
end

-- The object as the text says it: "the storm" / "a storm", or the member's name.
local function object_words(verb, members)
  local obj = verb.object
  if not obj then return nil end
  if obj.member then
    for _, m in ipairs(members) do
      if m.source == obj.member then return { the = m.name, an = m.name, title = m.name, member = m } end
    end
  end
  local text = obj.text
  local bare = obj.article == nil and text:match("s$") and not text:find(" ")
  local an = bare and text or ((obj.article == "the" and "the " or (article(text) .. " ")) .. text)
  return { the = "the " .. text, an = an, title = bare and text or ("the " .. text), text = text }
end

local function present_in(s, members)
  if #members <= 2 then return { table.unpack(members) } end
  local pairs_ = { { 1, 2 }, { 2, 3 }, { 1, 3 } }
  local p = pairs_[(s - 1) % 3 + 1]
  return { members[p[1]], members[p[2]] }
end

local function pick_shape(verb, family, obj, members, story)
  local vb = verb.key
  if verb.entry.friends and #members >= 2 then return shapes.friends end
  if special[vb] then
    if vb == "befriend" and not (obj and (verb.object.weather or obj.member)) then
      return #members >= 2 and not obj and shapes.friends or shapes.social
    end
    return special[vb]
  end
  if (vb == "explore" or vb == "wander" or vb == "haunt") and not obj then return shapes.explore end
  local shape = shapes[family] or shapes.journey
  if shape == shapes.journey and (verb.entry.motion == "fly" or verb.entry.motion == "swim") then
    shape = shapes.voyage
  end
  if shape == shapes.social and not obj and #members >= 2 and story then return shapes.friends end
  return shape
end

--- Plans a story. opts.scenes (1..12, default 3), opts.seed (integer).
--- Returns a plan table (a valid StoryPlan, see grokspicy.plan) or nil, message.
function M.plan(concept, opts)
  opts = opts or {}
  if type(concept) ~= "string" or not concept:find("%S") then return nil, "plan_story: empty concept" end
  local n = opts.scenes or 3
  if math.type(n) ~= "integer" or n < 1 or n > 12 then return nil, "plan_story: scenes must be 1..12" end
  build_indexes() -- each time: a lexicon extended since the last plan counts
  local rng = new_rng(concept, opts.seed or 0)
  local story = read_concept(concept)
  local verb = story.verbs[1] or default_verb(story)
  if verb.key == "ride" and verb.object and verb.object.text:find("wave") then
    verb = { key = "surf", entry = lexicon.verbs.surf, object = nil }
  end
  if verb.object and verb.object.weather and #story.weather == 0 then
    story.weather[1] = { key = verb.object.weather, entry = lexicon.weather[verb.object.weather] }
  end
  local family = verb.entry.family or "journey"
  story.weather_arc = verb.object and verb.object.weather and family == "social"
  local members = expand_cast(story, rng)
  local obj = object_words(verb, members)
  if not obj and story.place_object and family ~= "journey" and family ~= "quest" then
    local pe = place_entry(story.place_object)
    local noun = story.place_object
    obj = { the = "the " .. noun, an = article(noun) .. " " .. noun, title = "the " .. noun, text = noun,
      place = pe }
  end
  if not obj and family == "social" and #members < 2 then
    obj = { the = "the new friend", an = "a new friend", title = "a New Friend", text = "new friend" }
  end
  local shape = pick_shape(verb, family, obj, members, story)
  local places, there = plan_places(story, verb, n)
  local times, weather = plan_light(story, places, n)
  local vb = verb.key
  local obj_landmark = obj and obj.text and lexicon.landmark_words[obj.text:match("(%S+)$") or ""]
  local dest_name = there and (place_entry(there.key).name or place_entry(there.key).phrase) or nil

  local plan = { aspect_ratio = "16:9", style = style_of(story), characters = {}, scenes = {} }
  for i, m in ipairs(members) do
    plan.characters[i] = {
      name = m.name, role = role_of(m, i),
      visual_description = m.kind == "person" and describe_person(m) or describe_animal(m),
      personality_cues = { m.info.cues[1], m.info.cues[2], m.info.cues[3] },
    }
  end
  local obj_member = obj and obj.member
  local intents = {}
  for s = 1, n do
    local b = beat_of(s, n)
    local beat = shape[b]
    local cast = present_in(s, members)
    if obj_member then -- the one acted on is in the scene
      local seen = false
      for _, m in ipairs(cast) do seen = seen or m == obj_member end
      if not seen then cast[#cast] = obj_member end
    end
    local subject = {}
    for _, m in ipairs(cast) do if m ~= obj_member then subject[#subject + 1] = m end end
    if #subject == 0 then subject = { cast[1] } end
    if beat.subject == "a" then subject = { cast[1] } end
    local names = {}
    for _, m in ipairs(subject) do names[#names + 1] = m.name end
    local who, plural = join(names), #subject > 1
    local they, their = pronoun(subject[1])
    if plural then they, their = "they", "their" end
    local time_key = beat.time or times[s]
    if beat.time and weather[s] == "rainbow" then weather[s] = nil end
    local extras, lms = {}, {}
    if there and there.key == "moon" and places[s] ~= "moon" then
      extras[#extras + 1], lms[#lms + 1] = "under a huge bright moon", "moon"
    end
    local beside = {}
    for _, l in ipairs(beat.landmarks or {}) do beside[#beside + 1], lms[#lms + 1] = landmark_phrases[l], l end
    if obj_landmark and not beat.landmarks and not place_entry(places[s]).landmarks[1]
      and not scenery[obj_landmark] then
      beside[#beside + 1], lms[#lms + 1] = landmark_phrases[obj_landmark] or ("a " .. obj_landmark), obj_landmark
    end
    if #beside > 0 then extras[#extras + 1] = "beside " .. join(beside) end
    local setting = setting_text(places[s], time_key, weather[s], extras, story.season)
    local along, at = walk_prep(places[s]), at_prep(places[s])
    local vars = {
      Who = who, who = who, A = cast[1].name, B = (cast[2] or cast[1]).name, place = place_entry(places[s]).phrase,
      dest = dest_name or place_entry(places[s]).phrase, along = along, at = at, they = they, their = their,
      goal = dest_name and (" " .. (there.prep == "into" and "into " or "to ") .. dest_name)
        or (obj and (" " .. obj.an)) or "",
      toward = dest_name and (", heading for " .. dest_name)
        or (obj and not obj_member and (" after " .. obj.the)) or "",
      race_to = dest_name and (" toward " .. dest_name) or (" " .. along),
      the_obj = obj and obj.the or "everything", an_obj = obj and obj.an or "something new",
      The_obj = obj and cap(obj.the) or "Everything", obj_sp = obj and (" " .. obj.an) or "",
      the_obj_sp = obj and (" " .. obj.the) or "",
      oprep = verb.entry.object_prep and (" " .. verb.entry.object_prep) or "",
    }
    local tpl = beat.text
    if beat.text_obj and not dest_name then tpl = obj and not obj_member and beat.text_obj or beat.text_none end
    local motion = beat.motion == "verb" and verb.entry.motion or beat.motion
    -- in water, or for a fish, a walk is a swim; a ghost flies
    local swims, floats = place_entry(places[s]).place == "underwater", true
    for _, m in ipairs(subject) do
      swims = swims or m.info.family == "fish"
      floats = floats and m.info.family == "ghost"
    end
    if (swims or floats) and motion == "walk" then
      tpl = tpl:gsub("<walk>", swims and "<swim>" or "<fly>")
      motion = swims and "swim" or "fly"
    end
    local action = cap(conjugate(fill(place_verb(tpl, vb, verb.entry), vars), plural or beat.plural))
    local present = {}
    for _, m in ipairs(cast) do present[#present + 1] = m.name end
    plan.scenes[s] = {
      scene_id = s, title = rng.pick(beat.title), characters_present = present, setting = setting,
      camera = lexicon.cameras[motion] or "slow drift", mood = moods[b][rng.int(3)], action = action,
      description = cap(setting) .. ". " .. action, duration_seconds = 8, transition = "cut",
    }
    intents[s] = intended(places[s], time_key, weather[s], lms, story.season)
    intents[s].motion = motion
  end
  -- the title: who does what (to where)
  local lead = {}
  for _, m in ipairs(members) do if m ~= obj_member then lead[#lead + 1] = m.name end end
  local vfirst, vrest = vb:match("^(%S+)(.*)$")
  local vt = (#lead > 1 and vfirst or lexicon.forms(vfirst, verb.entry)) .. vrest
  local here_name = place_entry(places[1]).name or place_entry(places[1]).phrase
  if shape == shapes.friends then
    plan.title = title_case(join(lead) .. " Become Friends")
  elseif verb.implied and not obj then
    plan.title = title_case(join(lead) .. " and " .. (here_name:match("^the ") and here_name or ("the " .. here_name)))
  elseif there then
    plan.title = title_case(("%s %s to %s"):format(join(lead), vt, dest_name))
  elseif obj then
    plan.title = title_case(("%s %s%s %s"):format(join(lead), vt, verb.entry.object_prep and (" " ..
      verb.entry.object_prep) or "", obj.title))
  elseif story.place_object then
    plan.title = title_case(("%s %s %s"):format(join(lead), vt, place_entry(story.place_object).name or here_name))
  elseif story.via then
    plan.title = title_case(("%s %s %s %s"):format(join(lead), vt, story.via_prep or "across", here_name))
  else
    plan.title = title_case(("%s %s %s"):format(join(lead), vt, at_prep(places[1])))
  end
  local palette = {}
  for _, m in ipairs(members) do palette[#palette + 1] = m.colour end
  palette[#palette + 1] = place_entry(places[1]).place .. " tones"
  plan.color_palette = table.concat(palette, ", ")
  M.last_intents = intents
  return plan
end

--- What the renderer is meant to draw for each scene of the last plan: place,
--- time, weather, landmarks and motion (the tests compare it with what the
--- renderer reads from the same text).
function M.intents()
  return M.last_intents
end

return M
