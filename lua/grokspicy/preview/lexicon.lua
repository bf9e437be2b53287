-- lexicon.lua — the words the offline preview understands, as plain data:
-- people by role, animals, creatures and robots, places with their landmarks,
-- weather, times of day and verbs. Each entry says what the local renderer
-- draws for it (`draw`, a canonical name from grokspicy.preview.vocabulary())
-- and what the planner writes about it. The planner (grokspicy.preview.planner)
-- reads it; the renderer reads drawing_words() once per process, so a
-- hand-written plan that says "keeper" or "harbour" is drawn the same way.
--
-- Extending it: add entries to these tables before planning, e.g.
--   local lexicon = require "grokspicy.preview.lexicon"
--   lexicon.people.beekeeper = { draw = "person", outfit = { "white overalls", "cream hood" },
--                                home = "garden", verb = "tend the hives" }
-- (the planner sees the change at once; the renderer reads the shipped file,
-- or GROK_SPICY_SOURCE_DIR's copy). The lexicon spec checks every entry.
local M = {}

-- ---- people ----------------------------------------------------------------
-- draw: the figure; outfit: "colour garment" phrases the renderer reads;
-- home: the place key it belongs in; gender "f"/"m" and age "child"/"old"
-- when the word says so; verb: what it does when the concept names no verb.

local function person(outfit, home, extra)
  local e = { draw = "person", outfit = outfit, home = home }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

M.people = {
  ["lighthouse keeper"] = person({ "yellow raincoat", "navy trousers", "black boots", "black knit hat" }, "lighthouse",
    { verb = "tend the lamp", beard = true }),
  keeper = person({ "yellow raincoat", "navy trousers", "black boots", "black knit hat" }, "lighthouse",
    { verb = "tend the lamp" }),
  baker = person({ "white shirt", "cream apron", "grey trousers", "white chef's hat" }, "bakery",
    { verb = "bake bread" }),
  chef = { draw = "chef", outfit = { "white jacket", "white apron", "black trousers", "white chef's hat" },
    home = "kitchen",
    verb = "cook a feast" },
  cook = { draw = "chef", outfit = { "white jacket", "red apron", "black trousers", "white chef's hat" },
    home = "kitchen",
    verb = "cook a feast" },
  teacher = person({ "green sweater", "brown trousers", "brown shoes" }, "classroom", { verb = "teach a lesson",
    glasses = true }),
  student = person({ "blue hoodie", "denim jeans", "white shoes" }, "classroom", { verb = "learn something new",
    age = "child" }),
  pupil = person({ "navy sweater", "grey trousers", "black shoes" }, "classroom", { verb = "learn something new",
    age = "child" }),
  librarian = person({ "purple cardigan", "grey skirt", "black shoes" }, "library", { verb = "sort the books",
    glasses = true }),
  doctor = person({ "white coat", "blue trousers", "black shoes" }, "hospital", { verb = "help a patient" }),
  nurse = person({ "teal uniform", "teal trousers", "white shoes" }, "hospital", { verb = "help a patient" }),
  vet = person({ "green uniform", "green trousers", "brown boots" }, "farm", { verb = "help a sick animal" }),
  scientist = person({ "white coat", "grey trousers", "black shoes" }, "lab", { verb = "test an invention",
    glasses = true }),
  inventor = person({ "brown apron", "white shirt", "brown trousers" }, "workshop", { verb = "build an invention",
    glasses = true }),
  engineer = person({ "orange overalls", "yellow hard hat", "brown boots" }, "workshop", { verb = "fix a machine" }),
  mechanic = person({ "blue overalls", "red cap", "black boots" }, "garage", { verb = "fix an engine" }),
  carpenter = person({ "brown apron", "green shirt", "brown trousers" }, "workshop", { verb = "build a chair" }),
  builder = person({ "orange jacket", "denim jeans", "yellow hard hat" }, "street", { verb = "build a house" }),
  farmer = person({ "blue overalls", "red shirt", "brown boots", "tan straw hat" }, "farm",
    { verb = "bring in the harvest" }),
  gardener = person({ "green overalls", "white shirt", "brown boots", "tan straw hat" }, "garden",
    { verb = "plant a garden" }),
  fisherman = person({ "yellow raincoat", "navy trousers", "black boots", "yellow sou'wester" }, "harbour",
    { verb = "catch a fish", gender = "m", beard = true }),
  fisherwoman = person({ "yellow raincoat", "navy trousers", "black boots", "yellow sou'wester" }, "harbour",
    { verb = "catch a fish", gender = "f" }),
  fisher = person({ "yellow raincoat", "navy trousers", "black boots", "yellow sou'wester" }, "harbour",
    { verb = "catch a fish" }),
  sailor = person({ "navy jacket", "white trousers", "black boots", "white cap" }, "harbour",
    { verb = "sail across the sea" }),
  captain = person({ "navy coat", "white trousers", "black boots", "navy cap" }, "sea",
    { verb = "sail across the sea", beard = true }),
  pirate = { draw = "pirate", outfit = { "red coat", "black trousers", "black boots", "black tricorn" }, home = "sea",
    verb = "hunt for treasure", beard = true },
  knight = { draw = "knight", outfit = { "silver armour", "red cloak" }, home = "castle", verb = "guard the castle" },
  king = { draw = "king", outfit = { "red robe", "gold crown" }, home = "castle", verb = "rule the kingdom",
    gender = "m",
    beard = true },
  queen = { draw = "queen", outfit = { "purple dress", "gold crown" }, home = "castle", verb = "rule the kingdom",
    gender = "f" },
  prince = person({ "blue jacket", "white trousers", "black boots", "gold crown" }, "castle", { gender = "m" }),
  princess = person({ "pink dress", "gold crown" }, "castle", { gender = "f" }),
  wizard = { draw = "wizard", outfit = { "blue robe", "blue wizard hat" }, home = "castle", verb = "cast a spell",
    beard = true,
    gender = "m" },
  witch = { draw = "witch", outfit = { "purple robe", "black witch hat" }, home = "forest", verb = "brew a potion",
    gender = "f" },
  sorcerer = { draw = "wizard", outfit = { "purple robe", "purple wizard hat" }, home = "castle",
    verb = "cast a spell" },
  detective = { draw = "detective", outfit = { "tan coat", "brown trousers", "brown hat" }, home = "city",
    verb = "solve a mystery" },
  ["police officer"] = person({ "navy uniform", "navy trousers", "black boots", "navy cap" }, "city",
    { verb = "keep the peace" }),
  officer = person({ "navy uniform", "navy trousers", "black boots", "navy cap" }, "city", { verb = "keep the peace" }),
  firefighter = person({ "red jacket", "red trousers", "black boots", "yellow helmet" }, "city",
    { verb = "put out a fire" }),
  ["fire fighter"] = person({ "red jacket", "red trousers", "black boots", "yellow helmet" }, "city",
    { verb = "put out a fire" }),
  astronaut = { draw = "astronaut", outfit = { "white spacesuit", "white helmet" }, home = "space",
    verb = "explore a planet" },
  cosmonaut = { draw = "astronaut", outfit = { "white spacesuit", "white helmet" }, home = "space",
    verb = "explore a planet" },
  pilot = person({ "brown jacket", "khaki trousers", "brown boots", "brown cap" }, "airport", { verb = "fly a plane" }),
  explorer = { draw = "explorer", outfit = { "khaki shirt", "brown trousers", "brown boots", "tan sun hat" },
    home = "jungle",
    verb = "explore the unknown" },
  adventurer = { draw = "explorer", outfit = { "green jacket", "brown trousers", "brown boots", "tan sun hat" },
    home = "mountains", verb = "find a hidden treasure" },
  archaeologist = { draw = "explorer", outfit = { "khaki shirt", "tan trousers", "brown boots", "tan sun hat" },
    home = "desert",
    verb = "dig up a fossil" },
  painter = person({ "white shirt", "blue apron", "black trousers", "red beret" }, "workshop",
    { verb = "paint a picture" }),
  artist = person({ "white shirt", "blue apron", "black trousers", "red beret" }, "workshop",
    { verb = "paint a picture" }),
  sculptor = person({ "grey shirt", "brown apron", "grey trousers" }, "workshop", { verb = "carve a statue" }),
  musician = person({ "black jacket", "black trousers", "white shirt" }, "stage", { verb = "play a song" }),
  singer = person({ "red dress" }, "stage", { verb = "sing a song", gender = "f" }),
  dancer = person({ "pink dress", "pink shoes" }, "stage", { verb = "dance on stage" }),
  ballerina = person({ "pink dress", "pink shoes" }, "stage", { verb = "dance on stage", gender = "f", hair = "bun" }),
  drummer = person({ "black shirt", "denim jeans", "white shoes" }, "stage", { verb = "play the drums" }),
  guitarist = person({ "black jacket", "denim jeans", "black boots" }, "stage", { verb = "play a song" }),
  violinist = person({ "black dress", "black shoes" }, "stage", { verb = "play a song" }),
  poet = person({ "grey coat", "black trousers", "red scarf" }, "cafe", { verb = "write a poem" }),
  writer = person({ "brown cardigan", "grey trousers", "brown shoes" }, "home", { verb = "write a story",
    glasses = true }),
  author = person({ "brown cardigan", "grey trousers", "brown shoes" }, "home", { verb = "write a story",
    glasses = true }),
  photographer = person({ "olive jacket", "denim jeans", "brown boots" }, "city", { verb = "take a photograph" }),
  reporter = person({ "tan coat", "black trousers", "black shoes" }, "city", { verb = "find a story" }),
  journalist = person({ "tan coat", "black trousers", "black shoes" }, "city", { verb = "find a story" }),
  postman = person({ "blue jacket", "blue trousers", "black shoes", "blue cap" }, "street",
    { verb = "deliver the letters", gender = "m" }),
  postwoman = person({ "blue jacket", "blue trousers", "black shoes", "blue cap" }, "street",
    { verb = "deliver the letters", gender = "f" }),
  ["mail carrier"] = person({ "blue jacket", "blue trousers", "black shoes", "blue cap" }, "street",
    { verb = "deliver the letters" }),
  courier = person({ "orange jacket", "black trousers", "black shoes", "orange cap" }, "city",
    { verb = "deliver a parcel" }),
  ["delivery driver"] = person({ "brown jacket", "brown trousers", "black shoes", "brown cap" }, "street",
    { verb = "deliver a parcel" }),
  driver = person({ "grey jacket", "black trousers", "black shoes", "grey cap" }, "street",
    { verb = "drive across town" }),
  ["bus driver"] = person({ "navy jacket", "grey trousers", "black shoes", "navy cap" }, "city",
    { verb = "drive across town" }),
  ["taxi driver"] = person({ "yellow jacket", "black trousers", "black shoes" }, "city",
    { verb = "drive across town" }),
  ["truck driver"] = person({ "red shirt", "denim jeans", "brown boots", "red cap" }, "street",
    { verb = "drive across town" }),
  ["food truck owner"] = person({ "red shirt", "white apron", "black trousers", "red cap" }, "food truck",
    { verb = "serve lunch" }),
  shopkeeper = person({ "green sweater", "white apron", "brown trousers" }, "shop", { verb = "open the shop" }),
  grocer = person({ "green shirt", "white apron", "brown trousers" }, "market", { verb = "sell fresh fruit" }),
  florist = person({ "pink shirt", "green apron", "denim jeans" }, "garden", { verb = "arrange the flowers" }),
  tailor = person({ "grey suit", "grey trousers", "black shoes" }, "shop", { verb = "sew a coat", glasses = true }),
  barber = person({ "white shirt", "black apron", "black trousers" }, "shop", { verb = "cut some hair" }),
  hairdresser = person({ "black shirt", "black apron", "black trousers" }, "shop", { verb = "cut some hair" }),
  waiter = person({ "white shirt", "black apron", "black trousers" }, "cafe", { verb = "serve dinner" }),
  waitress = person({ "white shirt", "black apron", "black skirt" }, "cafe", { verb = "serve dinner", gender = "f" }),
  barista = person({ "grey shirt", "brown apron", "black trousers" }, "cafe", { verb = "make coffee" }),
  clown = person({ "red overalls", "yellow shirt", "red shoes", "green top hat" }, "circus", { verb = "juggle",
    hair = "curly" }),
  magician = person({ "black suit", "black trousers", "black top hat" }, "stage", { verb = "perform a trick" }),
  acrobat = person({ "red suit", "red trousers" }, "circus", { verb = "leap and tumble" }),
  juggler = person({ "purple shirt", "yellow trousers", "purple cap" }, "circus", { verb = "juggle" }),
  ringmaster = person({ "red coat", "white trousers", "black boots", "black top hat" }, "circus",
    { verb = "start the show" }),
  zookeeper = person({ "khaki shirt", "khaki trousers", "brown boots", "khaki cap" }, "zoo",
    { verb = "feed the animals" }),
  ranger = person({ "green shirt", "khaki trousers", "brown boots", "tan sun hat" }, "forest",
    { verb = "guard the forest" }),
  ["park ranger"] = person({ "green shirt", "khaki trousers", "brown boots", "tan sun hat" }, "park",
    { verb = "guard the park" }),
  lifeguard = person({ "red shirt", "red shorts" }, "beach", { verb = "keep the swimmers safe" }),
  surfer = person({ "teal shirt", "blue shorts" }, "beach", { verb = "ride a wave" }),
  skier = person({ "red jacket", "black trousers", "black boots", "blue beanie" }, "snowfield",
    { verb = "ski down the slope" }),
  skater = person({ "purple jacket", "black trousers", "white boots", "pink beanie" }, "snowfield",
    { verb = "skate on the ice" }),
  climber = person({ "orange jacket", "grey trousers", "brown boots", "red helmet" }, "mountains",
    { verb = "climb a mountain" }),
  hiker = person({ "green jacket", "brown trousers", "brown boots", "red cap" }, "mountains",
    { verb = "hike to the top" }),
  camper = person({ "red jacket", "denim jeans", "brown boots", "green beanie" }, "campsite",
    { verb = "pitch a tent" }),
  runner = person({ "blue shirt", "black shorts", "white shoes" }, "park", { verb = "run a race" }),
  athlete = person({ "red shirt", "black shorts", "white shoes" }, "park", { verb = "win a race" }),
  footballer = person({ "green shirt", "white shorts", "black boots" }, "park", { verb = "win the match" }),
  ["soccer player"] = person({ "green shirt", "white shorts", "black boots" }, "park", { verb = "win the match" }),
  swimmer = person({ "blue suit" }, "lake", { verb = "swim across the lake" }),
  cyclist = person({ "yellow shirt", "black shorts", "red helmet" }, "street", { verb = "ride to town" }),
  coach = person({ "red jacket", "navy trousers", "white shoes", "red cap" }, "park", { verb = "train the team" }),
  mayor = person({ "grey suit", "grey trousers", "black shoes", "black top hat" }, "city",
    { verb = "open the new park" }),
  guard = person({ "red uniform", "black trousers", "black boots", "black helmet" }, "castle",
    { verb = "guard the gate" }),
  spy = person({ "black coat", "black trousers", "black shoes", "black hat" }, "city", { verb = "uncover a secret",
    glasses = true }),
  thief = person({ "black sweater", "black trousers", "black shoes", "black beanie" }, "city", { verb = "escape" }),
  shepherd = person({ "brown cloak", "brown trousers", "brown boots" }, "meadow", { verb = "herd the sheep",
    beard = true }),
  cowboy = person({ "tan shirt", "denim jeans", "brown boots", "brown cowboy hat" }, "desert",
    { verb = "ride across the plains",
    gender = "m" }),
  cowgirl = person({ "red shirt", "denim jeans", "brown boots", "brown cowboy hat" }, "desert",
    { verb = "ride across the plains",
    gender = "f" }),
  ninja = person({ "black tunic", "black trousers", "black shoes", "black hood" }, "castle",
    { verb = "sneak past the guards" }),
  samurai = person({ "red armour", "black trousers", "black helmet" }, "castle", { verb = "guard the castle" }),
  viking = person({ "brown tunic", "grey trousers", "brown boots", "silver helmet" }, "sea",
    { verb = "sail across the sea",
    beard = true }),
  miner = person({ "grey overalls", "grey shirt", "black boots", "yellow hard hat" }, "cave",
    { verb = "dig for gems" }),
  lumberjack = person({ "red shirt", "denim jeans", "brown boots", "red beanie" }, "forest", { verb = "chop wood",
    beard = true }),
  blacksmith = person({ "brown apron", "grey shirt", "black trousers" }, "workshop", { verb = "forge a sword",
    beard = true }),
  potter = person({ "grey shirt", "brown apron", "denim jeans" }, "workshop", { verb = "shape a pot" }),
  beekeeper = person({ "white overalls", "white shirt", "white boots", "cream hood" }, "garden",
    { verb = "tend the hives" }),
  butcher = person({ "white shirt", "red apron", "black trousers" }, "shop", { verb = "open the shop" }),
  ["ice cream seller"] = person({ "pink shirt", "white apron", "white trousers", "pink cap" }, "beach",
    { verb = "sell ice cream" }),
  vendor = person({ "orange shirt", "green apron", "brown trousers", "orange cap" }, "market",
    { verb = "sell fresh fruit" }),
  ["street vendor"] = person({ "orange shirt", "green apron", "brown trousers", "orange cap" }, "street",
    { verb = "sell snacks" }),
  merchant = person({ "green robe", "brown trousers", "brown boots" }, "market", { verb = "trade spices" }),
  janitor = person({ "grey overalls", "grey shirt", "black boots" }, "classroom", { verb = "clean up" }),
  cleaner = person({ "blue overalls", "white shirt", "white shoes" }, "home", { verb = "clean up" }),
  plumber = person({ "blue overalls", "red shirt", "black boots", "red cap" }, "home", { verb = "fix a leak" }),
  electrician = person({ "yellow overalls", "grey shirt", "black boots", "yellow hard hat" }, "home",
    { verb = "fix the lights" }),
  architect = person({ "black sweater", "grey trousers", "black shoes" }, "city", { verb = "design a tower",
    glasses = true }),
  surgeon = person({ "green uniform", "green trousers", "white shoes", "green cap" }, "hospital",
    { verb = "help a patient" }),
  dentist = person({ "white coat", "blue trousers", "white shoes" }, "hospital", { verb = "fix a tooth" }),
  programmer = person({ "grey hoodie", "denim jeans", "white shoes" }, "home", { verb = "write some code",
    glasses = true }),
  coder = person({ "grey hoodie", "denim jeans", "white shoes" }, "home", { verb = "write some code", glasses = true }),
  gamer = person({ "black hoodie", "denim jeans", "red shoes" }, "home", { verb = "win the game" }),
  monk = person({ "orange robe" }, "mountains", { verb = "meditate", hair = "bald" }),
  grandmother = person({ "lavender cardigan", "grey skirt", "brown shoes" }, "home",
    { verb = "bake a pie", gender = "f", age = "old", hair = "bun", glasses = true }),
  grandma = person({ "lavender cardigan", "grey skirt", "brown shoes" }, "home",
    { verb = "bake a pie", gender = "f", age = "old", hair = "bun", glasses = true }),
  granny = person({ "pink cardigan", "grey skirt", "brown shoes" }, "home",
    { verb = "knit a scarf", gender = "f", age = "old", hair = "bun", glasses = true }),
  grandfather = person({ "brown cardigan", "grey trousers", "brown shoes", "tan cap" }, "home",
    { verb = "tell a story", gender = "m", age = "old", beard = true }),
  grandpa = person({ "brown cardigan", "grey trousers", "brown shoes", "tan cap" }, "home",
    { verb = "tell a story", gender = "m", age = "old", beard = true }),
  mother = person({ "teal sweater", "denim jeans", "white shoes" }, "home", { gender = "f" }),
  mom = person({ "teal sweater", "denim jeans", "white shoes" }, "home", { gender = "f" }),
  mum = person({ "teal sweater", "denim jeans", "white shoes" }, "home", { gender = "f" }),
  father = person({ "green sweater", "tan trousers", "brown shoes" }, "home", { gender = "m" }),
  dad = person({ "green sweater", "tan trousers", "brown shoes" }, "home", { gender = "m" }),
  aunt = person({ "orange dress", "brown shoes" }, "home", { gender = "f" }),
  uncle = person({ "blue shirt", "grey trousers", "brown shoes" }, "home", { gender = "m", beard = true }),
  sister = person({ "yellow dress", "white shoes" }, "home", { gender = "f", age = "child" }),
  brother = person({ "red shirt", "blue shorts", "white shoes" }, "home", { gender = "m", age = "child" }),
  son = person({ "green shirt", "blue shorts", "white shoes" }, "home", { gender = "m", age = "child" }),
  daughter = person({ "purple dress", "white shoes" }, "home", { gender = "f", age = "child" }),
  grandson = person({ "red sweater", "blue trousers", "white shoes" }, "home", { gender = "m", age = "child" }),
  granddaughter = person({ "yellow sweater", "denim skirt", "white shoes" }, "home", { gender = "f", age = "child" }),
  baby = person({ "yellow shirt", "yellow trousers" }, "home", { age = "child" }),
  toddler = person({ "red shirt", "blue trousers", "white shoes" }, "home", { age = "child" }),
  child = { draw = "child", outfit = { "yellow shirt", "blue trousers", "red shoes" }, home = "park", age = "child" },
  kid = { draw = "child", outfit = { "orange shirt", "denim jeans", "white shoes" }, home = "park", age = "child" },
  girl = { draw = "girl", outfit = { "red dress", "white shoes" }, home = "park", gender = "f", age = "child" },
  boy = { draw = "boy", outfit = { "blue shirt", "brown shorts", "white shoes" }, home = "park", gender = "m",
    age = "child" },
  teenager = person({ "purple hoodie", "denim jeans", "white shoes" }, "city", {}),
  teen = person({ "purple hoodie", "denim jeans", "white shoes" }, "city", {}),
  woman = person({ "teal coat", "grey trousers", "brown boots" }, "city", { gender = "f" }),
  man = person({ "brown jacket", "navy trousers", "brown shoes" }, "city", { gender = "m" }),
  lady = person({ "lavender dress", "white shoes", "cream sun hat" }, "garden", { gender = "f" }),
  gentleman = person({ "grey suit", "grey trousers", "black shoes", "black top hat" }, "city", { gender = "m" }),
  neighbour = person({ "orange sweater", "denim jeans", "brown shoes" }, "street", {}),
  neighbor = person({ "orange sweater", "denim jeans", "brown shoes" }, "street", {}),
  stranger = person({ "grey coat", "black trousers", "black boots", "grey hat" }, "street", {}),
  traveller = person({ "olive coat", "brown trousers", "brown boots", "red scarf" }, "street",
    { verb = "travel the world" }),
  traveler = person({ "olive coat", "brown trousers", "brown boots", "red scarf" }, "street",
    { verb = "travel the world" }),
  tourist = person({ "yellow shirt", "khaki shorts", "white shoes", "white sun hat" }, "city",
    { verb = "see the sights" }),
  gnome = person({ "blue tunic", "brown trousers", "red pointed hat" }, "garden", { age = "child", beard = true,
    gender = "m" }),
  dwarf = person({ "brown tunic", "green trousers", "brown boots", "green hood" }, "cave", { age = "child",
    beard = true,
    gender = "m", verb = "dig for gems" }),
  elf = person({ "green tunic", "brown trousers", "brown boots", "green hood" }, "forest", { verb = "make toys" }),
  giant = person({ "brown tunic", "brown trousers", "brown boots" }, "mountains", { beard = true }),
  vampire = person({ "black cloak", "black trousers", "black shoes" }, "castle", { verb = "stay up all night" }),
  mermaid = { draw = "fairy", outfit = { "teal dress" }, home = "underwater", verb = "swim through the reef",
    gender = "f",
    hair = "long" },
  fairy = { draw = "fairy", outfit = { "green dress" }, home = "garden", verb = "grant a wish", gender = "f" },
}

-- ---- animals, creatures, robots -------------------------------------------
-- draw: the figure; colour: its usual body colour (a renderer colour word);
-- home: where it lives; flies/swims: how it moves.

local function animal(draw, colour, home, extra)
  local e = { draw = draw, colour = colour, home = home }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

M.animals = {
  fox = animal("fox", "orange", "forest"), vixen = animal("fox", "orange", "forest"),
  owl = animal("owl", "brown", "forest", { flies = true }), owlet = animal("owl", "tan", "forest", { flies = true }),
  cat = animal("cat", "grey", "home"), kitten = animal("kitten", "ginger", "home"), kitty = animal("kitten", "ginger",
    "home"),
  dog = animal("dog", "brown", "park"), dalmatian = animal("dog", "white", "city"), poodle = animal("dog", "cream",
    "city"),
  terrier = animal("dog", "tan", "park"), sheepdog = animal("dog", "grey", "farm"), puppy = animal("puppy", "tan",
    "park"), pup = animal("puppy", "tan", "park"),
  wolf = animal("wolf", "grey", "forest"), bear = animal("bear", "brown", "forest"),
  ["polar bear"] = animal("bear", "white", "snowfield"), ["teddy bear"] = animal("bear", "tan", "home"),
  panda = animal("panda", "white", "forest"), koala = animal("bear", "grey", "forest"),
  rabbit = animal("rabbit", "beige", "meadow"), bunny = animal("bunny", "white", "meadow"), hare = animal("hare",
    "tawny", "meadow"),
  mouse = animal("mouse", "grey", "home"), rat = animal("mouse", "charcoal", "city"), hamster = animal("mouse",
    "ginger", "home"),
  mole = animal("mouse", "black", "garden"), squirrel = animal("squirrel", "rust", "forest"),
  chipmunk = animal("squirrel", "tawny", "forest"), raccoon = animal("raccoon", "grey", "city"),
  badger = animal("raccoon", "charcoal", "forest"), skunk = animal("raccoon", "black", "forest"),
  otter = animal("raccoon", "brown", "river", { swims = true }), beaver = animal("raccoon", "chestnut", "river",
    { swims = true }),
  deer = animal("deer", "tawny", "forest"), fawn = animal("deer", "tan", "forest"), reindeer = animal("deer", "brown",
    "snowfield"),
  moose = animal("deer", "chestnut", "forest"), elk = animal("deer", "brown", "mountains"),
  lion = animal("lion", "golden", "desert"), lioness = animal("cat", "tawny", "desert"), tiger = animal("tiger",
    "orange", "jungle"),
  leopard = animal("tiger", "gold", "jungle"), cheetah = animal("tiger", "gold", "desert"), jaguar = animal("tiger",
    "amber", "jungle"),
  lynx = animal("cat", "tan", "forest"), frog = animal("frog", "green", "river", { swims = true }),
  toad = animal("frog", "brown", "garden"), pig = animal("pig", "pink", "farm"), piglet = animal("pig", "pink", "farm"),
  cow = animal("cow", "white", "farm"), calf = animal("cow", "white", "farm"), bull = animal("cow", "brown", "farm"),
  horse = animal("horse", "chestnut", "farm"), pony = animal("horse", "tan", "farm"), foal = animal("horse",
    "chestnut", "meadow"),
  donkey = animal("horse", "grey", "farm"), zebra = animal("horse", "white", "desert"),
  unicorn = animal("unicorn", "white", "meadow"), pegasus = animal("unicorn", "white", "sky", { flies = true }),
  sheep = animal("sheep", "cream", "farm"), lamb = animal("sheep", "white", "meadow"), llama = animal("sheep",
    "beige", "mountains"),
  alpaca = animal("sheep", "cream", "mountains"), goat = animal("goat", "white", "mountains"),
  elephant = animal("elephant", "grey", "jungle"), mammoth = animal("elephant", "brown", "snowfield"),
  hippo = animal("elephant", "lavender", "river", { swims = true }), rhino = animal("elephant", "grey", "desert"),
  monkey = animal("monkey", "brown", "jungle"), ape = animal("monkey", "charcoal", "jungle"),
  gorilla = animal("monkey", "black", "jungle"), chimp = animal("monkey", "brown", "jungle"),
  chimpanzee = animal("monkey", "brown", "jungle"), orangutan = animal("monkey", "orange", "jungle"),
  sloth = animal("monkey", "tan", "jungle"), kangaroo = animal("hare", "tan", "desert"), camel = animal("horse",
    "tan", "desert"),
  turtle = animal("turtle", "green", "beach", { swims = true }), tortoise = animal("turtle", "olive", "garden"),
  hedgehog = animal("hedgehog", "brown", "garden"), porcupine = animal("hedgehog", "charcoal", "forest"),
  penguin = animal("penguin", "black", "snowfield", { swims = true }), puffin = animal("penguin", "black", "coast"),
  bird = animal("bird", "blue", "park", { flies = true }), robin = animal("robin", "brown", "garden", { flies = true }),
  sparrow = animal("bird", "brown", "city", { flies = true }), bluebird = animal("bird", "blue", "meadow",
    { flies = true }),
  magpie = animal("crow", "black", "park", { flies = true }), hummingbird = animal("bird", "emerald", "garden",
    { flies = true }),
  crow = animal("crow", "black", "meadow", { flies = true }), raven = animal("raven", "black", "castle",
    { flies = true }),
  duck = animal("duck", "yellow", "lake", { swims = true }), duckling = animal("duck", "yellow", "lake",
    { swims = true }),
  goose = animal("duck", "white", "farm"), swan = animal("duck", "white", "lake", { swims = true }),
  chicken = animal("chicken", "white", "farm"), hen = animal("chicken", "tawny", "farm"), rooster = animal("chicken",
    "rust", "farm"),
  chick = animal("chicken", "yellow", "farm"), parrot = animal("parrot", "green", "jungle", { flies = true }),
  peacock = animal("parrot", "blue", "garden"), flamingo = animal("bird", "pink", "lake"),
  seagull = animal("seagull", "white", "beach", { flies = true }), gull = animal("seagull", "white", "harbour",
    { flies = true }),
  pelican = animal("seagull", "white", "harbour", { flies = true }), eagle = animal("eagle", "brown", "mountains",
    { flies = true }),
  hawk = animal("eagle", "tawny", "mountains", { flies = true }), falcon = animal("eagle", "grey", "mountains",
    { flies = true }),
  phoenix = animal("bird", "scarlet", "mountains", { flies = true }), griffin = animal("eagle", "golden", "castle",
    { flies = true }),
  ostrich = animal("bird", "charcoal", "desert"), bat = animal("bat", "purple", "cave", { flies = true }),
  fish = animal("fish", "orange", "underwater", { swims = true }), goldfish = animal("fish", "orange", "home",
    { swims = true }),
  shark = animal("fish", "grey", "underwater", { swims = true }), whale = animal("fish", "navy", "sea",
    { swims = true }),
  dolphin = animal("fish", "silver", "sea", { swims = true }), octopus = animal("octopus", "purple", "underwater",
    { swims = true }),
  squid = animal("octopus", "pink", "underwater", { swims = true }), jellyfish = animal("octopus", "lavender",
    "underwater",
    { swims = true }),
  seal = animal("bear", "grey", "coast", { swims = true }), walrus = animal("bear", "brown", "snowfield",
    { swims = true }),
  snake = animal("dinosaur", "green", "jungle"), lizard = animal("dinosaur", "lime", "desert"),
  chameleon = animal("dinosaur", "lime", "jungle"), crocodile = animal("dinosaur", "olive", "river", { swims = true }),
  alligator = animal("dinosaur", "olive", "river", { swims = true }),
}

M.creatures = {
  dragon = animal("dragon", "green", "mountains", { flies = true }), dinosaur = animal("dinosaur", "green", "jungle"),
  ["t-rex"] = animal("dinosaur", "green", "jungle"), trex = animal("dinosaur", "green", "jungle"),
  ghost = animal("ghost", "white", "castle", { flies = true }), spirit = animal("ghost", "white", "forest",
    { flies = true }),
  alien = animal("alien", "green", "space"), martian = animal("alien", "green", "space"),
  monster = animal("monster", "blue", "cave"), ["sea monster"] = animal("monster", "teal", "sea", { swims = true }),
  yeti = animal("monster", "white", "snowfield"), troll = animal("monster", "green", "forest"),
  goblin = animal("monster", "lime", "cave"), ogre = animal("monster", "olive", "forest"),
  creature = animal("creature", "purple", "forest"),
}

M.robots = {
  robot = animal("robot", "silver", "workshop"), android = animal("robot", "white", "city"), droid = animal("robot",
    "silver", "space"),
  bot = animal("robot", "silver", "workshop"), cyborg = animal("robot", "grey", "city"),
  automaton = animal("robot", "copper", "workshop"), ["robot vacuum"] = animal("robot", "grey", "home"),
}

-- ---- places -----------------------------------------------------------------
-- place: the renderer's setting; landmarks: what stands in it; phrase: how a
-- scene names it (its words must read back as the same place and landmarks).

local function place(canonical, phrase, landmarks, extra)
  local e = { place = canonical, phrase = phrase, landmarks = landmarks or {} }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

M.places = {
  forest = place("forest", "the forest"), woods = place("forest", "the woods"), wood = place("forest", "the wood", {},
    { renderer = false }),
  woodland = place("forest", "the woodland"), grove = place("forest", "the grove"), jungle = place("jungle",
    "the jungle"),
  rainforest = place("jungle", "the rainforest"), city = place("city", "the city streets"),
  town = place("city", "the town square"), village = place("street", "the village street", { "house" }),
  downtown = place("city", "downtown"), street = place("street", "the street"), road = place("street", "the road"),
  alley = place("street", "the alley"), avenue = place("city", "the avenue"), square = place("city",
    "the town square", {}, { renderer = false }),
  neighbourhood = place("street", "the neighbourhood street", { "house" }),
  neighborhood = place("street", "the neighborhood street", { "house" }),
  market = place("market", "the market"), bazaar = place("market", "the bazaar"), fair = place("market", "the fair",
    {}, { renderer = false }),
  beach = place("beach", "the sandy beach"), shore = place("coast", "the rocky shore"), seaside = place("beach",
    "the seaside"),
  coast = place("coast", "the rocky coast"), cliff = place("coast", "the cliff top"), cliffs = place("coast",
    "the cliffs"),
  lighthouse = place("coast", "the rocky shore below the lighthouse", { "lighthouse" }),
  sea = place("sea", "the open sea"), ocean = place("sea", "the ocean"), bay = place("sea", "the bay"),
  harbour = place("harbour", "the harbour"), harbor = place("harbour", "the harbor"), port = place("harbour",
    "the harbour"),
  dock = place("harbour", "the dock"), docks = place("harbour", "the docks"), pier = place("harbour", "the pier"),
  marina = place("harbour", "the marina"), island = place("island", "the island"), desert = place("desert",
    "the desert"),
  dunes = place("desert", "the dunes"), oasis = place("desert", "the oasis", { "trees" }),
  canyon = place("desert", "the canyon"), mountain = place("mountains", "the mountain"),
  mountains = place("mountains", "the mountains"), peak = place("mountains", "the mountain peak"),
  hills = place("meadow", "the hills"), valley = place("mountains", "the valley"), glacier = place("snowfield",
    "the glacier"),
  arctic = place("snowfield", "the arctic"), antarctica = place("snowfield", "the antarctic ice"),
  ["north pole"] = place("snowfield", "the snowy north"), tundra = place("snowfield", "the tundra"),
  snowfield = place("snowfield", "the snowfield"), ice = place("snowfield", "the frozen snowfield"),
  rink = place("snowfield", "the ice rink on the snowfield"), ["ice rink"] = place("snowfield",
    "the ice rink on the snowfield"),
  ["frozen lake"] = place("snowfield", "the frozen snowfield of the lake"),
  ["frozen pond"] = place("snowfield", "the frozen snowfield of the pond"), space = place("space", "outer space"),
  galaxy = place("space", "a distant galaxy"), planet = place("space", "a faraway planet"),
  mars = place("space", "the red planet", {}, { name = "Mars", at = "on" }), spaceship = place("space",
    "the spaceship deck"),
  ["space station"] = place("space", "the space station"),
  moon = place("moonscape", "the lunar moonscape", {}, { name = "the moon" }),
  garden = place("garden", "the garden"), backyard = place("garden", "the backyard"),
  orchard = place("garden", "the orchard", { "trees" }), farm = place("farm", "the farm"), barn = place("farm",
    "the barnyard"),
  field = place("meadow", "the field"), meadow = place("meadow", "the meadow"), countryside = place("meadow",
    "the countryside"),
  prairie = place("meadow", "the prairie"), river = place("river", "the riverbank"), stream = place("river",
    "the stream"),
  creek = place("river", "the creek"), lake = place("lake", "the lakeside"), pond = place("lake", "the pond"),
  waterfall = place("river", "the waterfall"), swamp = place("river", "the swamp"), marsh = place("river", "the marsh"),
  park = place("park", "the park"), playground = place("park", "the playground"), zoo = place("park", "the zoo",
    { "fence" }),
  underwater = place("underwater", "the underwater reef"), reef = place("underwater", "the coral reef underwater"),
  ["coral reef"] = place("underwater", "the coral reef underwater"), seabed = place("underwater",
    "the seabed underwater"),
  kitchen = place("kitchen", "the kitchen"), bakery = place("kitchen", "the bakery kitchen"),
  restaurant = place("cafe", "the restaurant"), cafe = place("cafe", "the cafe"), diner = place("cafe", "the diner"),
  home = place("home", "home"), house = place("home", "the house"), cottage = place("home", "the cottage"),
  bedroom = place("home", "the bedroom"), ["living room"] = place("home", "the living room"), attic = place("home",
    "the attic"),
  apartment = place("home", "the apartment"), library = place("library", "the library"),
  bookshop = place("library", "the bookshop library"), bookstore = place("library", "the bookstore library"),
  school = place("classroom", "the school classroom"), classroom = place("classroom", "the classroom"),
  castle = place("castle", "the castle"), palace = place("castle", "the palace grounds", { "castle" }),
  kingdom = place("castle", "the kingdom", { "castle" }), tower = place("castle", "the castle tower"),
  cave = place("cave", "the cave"), mine = place("cave", "the mine cave", {}, { renderer = false }),
    stage = place("stage", "the stage"),
  theatre = place("stage", "the theatre stage"), theater = place("stage", "the theater stage"),
  circus = place("stage", "the circus stage"), ["concert hall"] = place("stage", "the concert hall stage"),
  workshop = place("workshop", "the workshop"), garage = place("workshop", "the garage workshop"),
  lab = place("workshop", "the lab workshop"), laboratory = place("workshop", "the laboratory workshop"),
  factory = place("workshop", "the factory workshop"), shop = place("shop", "the shop"), store = place("shop",
    "the store"),
  supermarket = place("shop", "the supermarket shop"), ["toy shop"] = place("shop", "the toy shop"),
  museum = place("library", "the museum hall library"), hospital = place("home", "the hospital ward"),
  station = place("city", "the station in the city"), ["train station"] = place("city",
    "the train station in the city"),
  airport = place("city", "the airport in the city"),
  ["food truck"] = place("street", "the street beside the food truck", { "truck" }),
  sky = place("cloudtops", "the cloudtops high in the sky", {}, { renderer = false }), clouds = place("cloudtops",
    "the cloudtops", {}, { renderer = false }),
  camp = place("campsite", "the campsite"), campsite = place("campsite", "the campsite"),
  tent = place("campsite", "the campsite"),
}

-- How a walk crosses each kind of place, and where the cast stands in it.
M.walk_preps = {
  coast = "along", beach = "along", river = "along", lake = "along", harbour = "along", street = "along",
  sea = "across", meadow = "across", desert = "across", snowfield = "across", moonscape = "across", island = "across",
  farm = "across", mountains = "up", cloudtops = "through", space = "across", market = "through",
  kitchen = "around", home = "around", library = "around", classroom = "around", workshop = "around",
  cafe = "around", shop = "around", stage = "across", castle = "up to", cave = "into",
}
M.at_preps = {
  coast = "on", beach = "on", moonscape = "on", island = "on", street = "on", farm = "on", stage = "on",
  snowfield = "on",
  cloudtops = "among", harbour = "at", castle = "at", sea = "out on", mountains = "high in", lake = "by", river = "by",
}

-- ---- weather, times of day, seasons -------------------------------------------

M.weather = {
  storm = { weather = "storm", phrase = "storm clouds and driving rain", noun = "storm" },
  thunderstorm = { weather = "storm", phrase = "storm clouds and driving rain", noun = "storm" },
  thunder = { weather = "storm", phrase = "thunder and rain", noun = "thunderstorm" },
  lightning = { weather = "storm", phrase = "lightning and rain", noun = "lightning" },
  hurricane = { weather = "storm", phrase = "storm clouds and howling wind", noun = "hurricane" },
  rain = { weather = "rain", phrase = "steady rain", noun = "rain" }, rainy = { weather = "rain",
    phrase = "steady rain" },
  raining = { weather = "rain", phrase = "steady rain" }, drizzle = { weather = "rain",
    phrase = "a light drizzle of rain" },
  shower = { weather = "rain", phrase = "a rain shower" }, downpour = { weather = "rain", phrase = "pouring rain" },
  snow = { weather = "snow", phrase = "falling snow", noun = "snow" }, snowy = { weather = "snow",
    phrase = "falling snow" },
  snowing = { weather = "snow", phrase = "falling snow" }, snowfall = { weather = "snow", phrase = "falling snow" },
  snowflakes = { weather = "snow", phrase = "falling snow" },
  blizzard = { weather = "snow", phrase = "a blizzard of snow and wind", noun = "blizzard", also = "wind" },
  winter = { weather = "snow", phrase = "winter snow", season = "winter" },
  frost = { weather = "snow", phrase = "frost and light snow" }, frosty = { weather = "snow",
    phrase = "frost and light snow" },
  fog = { weather = "fog", phrase = "thick fog", noun = "fog" }, foggy = { weather = "fog", phrase = "thick fog" },
  mist = { weather = "fog", phrase = "drifting mist", noun = "mist" }, misty = { weather = "fog",
    phrase = "drifting mist" },
  wind = { weather = "wind", phrase = "a gusty wind", noun = "wind" }, windy = { weather = "wind",
    phrase = "a gusty wind" },
  breeze = { weather = "wind", phrase = "a gentle breeze" }, gale = { weather = "wind", phrase = "a roaring gale" },
  cloud = { weather = "cloudy", phrase = "grey clouds", noun = "cloud" }, cloudy = { weather = "cloudy",
    phrase = "grey clouds" },
  overcast = { weather = "cloudy", phrase = "grey clouds" },
  sunny = { weather = "sunny", phrase = "bright sunshine" }, sunshine = { weather = "sunny",
    phrase = "bright sunshine" },
  heatwave = { weather = "sunny", phrase = "blazing sunshine" }, summer = { weather = "sunny",
    phrase = "summer sunshine",
    season = "summer" },
  rainbow = { weather = "clear", phrase = "a rainbow in the sky", landmark = "rainbow", noun = "rainbow" },
}

M.times = {
  dawn = { time = "dawn", phrase = "at dawn" }, sunrise = { time = "dawn", phrase = "at sunrise" },
  daybreak = { time = "dawn", phrase = "at daybreak" }, morning = { time = "dawn", phrase = "in the early morning" },
  noon = { time = "day", phrase = "at noon" }, midday = { time = "day", phrase = "at midday" },
  afternoon = { time = "day", phrase = "in the afternoon" }, day = { time = "day", phrase = "in the daytime" },
  daytime = { time = "day", phrase = "in the daytime" }, evening = { time = "dusk", phrase = "in the evening" },
  dusk = { time = "dusk", phrase = "at dusk" }, sunset = { time = "dusk", phrase = "at sunset" },
  twilight = { time = "dusk", phrase = "at twilight" }, night = { time = "night", phrase = "at night" },
  nighttime = { time = "night", phrase = "at night" }, midnight = { time = "night", phrase = "at midnight" },
  tonight = { time = "night", phrase = "at night" }, bedtime = { time = "night", phrase = "at bedtime, late at night" },
  moonlit = { time = "night", phrase = "by moonlight at night" }, moonlight = { time = "night",
    phrase = "by moonlight at night" },
  starry = { time = "night", phrase = "under a starry night sky" }, starlit = { time = "night",
    phrase = "under a starry night sky" },
  stargazing = { time = "night", phrase = "under a starry night sky" },
}

M.seasons = { autumn = "autumn", fall = "autumn", autumnal = "autumn", spring = "spring" }

-- The arc of a story's light when the concept names no time: scene 1 .. n.
M.default_day = { "morning", "afternoon", "sunset" }

-- ---- verbs ------------------------------------------------------------------
-- motion: how the cast moves on screen; family: the story shape (journey,
-- quest, craft, social, show); s/ing/past: irregular forms; goal: true when
-- the verb reads as an aim ("to race to the moon").

local function verb(motion, family, extra)
  local e = { motion = motion, family = family }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

M.verbs = {
  race = verb("race", "journey"), run = verb("race", "journey", { ing = "running", past = "ran" }),
  dash = verb("race", "journey"), sprint = verb("race", "journey"), hurry = verb("race", "journey"),
  chase = verb("chase", "journey"), follow = verb("walk", "journey"), travel = verb("walk", "journey",
    { ing = "travelling" }),
  journey = verb("walk", "journey"), walk = verb("walk", "journey"), wander = verb("walk", "journey"),
  stroll = verb("walk", "journey"), hike = verb("walk", "journey"), trek = verb("walk", "journey",
    { ing = "trekking" }),
  go = verb("walk", "journey", { s = "goes", ing = "going", past = "went" }), head = verb("walk", "journey",
    { renderer = false }),
  visit = verb("walk", "journey"), ["return"] = verb("walk", "journey"), cross = verb("walk", "journey"),
  climb = verb("walk", "journey"), escape = verb("race", "journey"), flee = verb("race", "journey",
    { ing = "fleeing" }),
  fly = verb("fly", "journey", { s = "flies", past = "flew" }), soar = verb("fly", "journey"), glide = verb("fly",
    "journey"),
  sail = verb("swim", "journey"), swim = verb("swim", "journey", { ing = "swimming", past = "swam" }),
  dive = verb("swim", "journey"), paddle = verb("swim", "journey"), row = verb("swim", "journey", { renderer = false }),
  ride = verb("race", "journey", { past = "rode" }), drive = verb("race", "journey", { past = "drove" }),
  skate = verb("dance", "show"), ski = verb("race", "journey", { s = "skis" }), surf = verb("swim", "show"),
  deliver = verb("walk", "journey"), carry = verb("walk", "journey"), bring = verb("walk", "journey",
    { past = "brought" }),
  search = verb("search", "quest", { object_prep = "for", finish = "find" }), ["look for"] = verb("search", "quest",
    { finish = "find" }), seek = verb("search", "quest", { past = "sought", finish = "find" }),
  hunt = verb("search", "quest", { object_prep = "for", finish = "find" }), find = verb("search", "quest",
    { past = "found" }), explore = verb("search", "quest"),
  discover = verb("search", "quest"), solve = verb("search", "quest"), investigate = verb("search", "quest"),
  collect = verb("search", "quest"), gather = verb("search", "quest"), track = verb("search", "quest"),
  uncover = verb("search", "quest"), dig = verb("work", "quest", { ing = "digging", past = "dug" }),
  fix = verb("work", "craft"), repair = verb("work", "craft"), mend = verb("work", "craft"), build = verb("work",
    "craft",
    { past = "built" }),
  make = verb("work", "craft", { past = "made" }), invent = verb("work", "craft"), cook = verb("work", "craft"),
  bake = verb("work", "craft"), brew = verb("work", "craft"), paint = verb("work", "craft"), draw = verb("work",
    "craft",
    { past = "drew" }),
  write = verb("work", "craft", { past = "wrote" }), knit = verb("work", "craft", { ing = "knitting" }),
  sew = verb("work", "craft"), plant = verb("work", "craft"), grow = verb("work", "craft", { past = "grew" }),
  decorate = verb("work", "craft"), prepare = verb("work", "craft"), clean = verb("work", "craft"),
  tidy = verb("work", "craft"), wash = verb("work", "craft"), carve = verb("work", "craft"), forge = verb("work",
    "craft"),
  design = verb("work", "craft"), code = verb("work", "craft", { renderer = false }), read = verb("work", "craft",
    { past = "read" }),
  study = verb("work", "craft"), learn = verb("talk", "social"), teach = verb("talk", "social", { past = "taught" }),
  befriend = verb("meet", "social"), meet = verb("meet", "social", { past = "met" }), greet = verb("meet", "social"),
  help = verb("meet", "social"), rescue = verb("race", "social"), save = verb("race", "social"),
    protect = verb("meet", "social"),
  guard = verb("meet", "social"), comfort = verb("meet", "social"), calm = verb("point", "social"),
    tame = verb("point", "social"),
  feed = verb("work", "social", { past = "fed" }), heal = verb("work", "social"), hug = verb("meet", "social",
    { ing = "hugging" }),
  share = verb("meet", "social"), talk = verb("talk", "social"), chat = verb("talk", "social", { ing = "chatting" }),
  argue = verb("talk", "social"), apologise = verb("talk", "social"), apologize = verb("talk", "social"),
  tell = verb("talk", "social", { past = "told" }), listen = verb("talk", "social"), welcome = verb("wave", "social"),
  wave = verb("wave", "social"), point = verb("point", "quest"), watch = verb("point", "quest"),
    stargaze = verb("point", "quest"),
  spot = verb("point", "quest", { ing = "spotting" , renderer = false }), dance = verb("dance", "show"),
    sing = verb("dance", "show",
    { past = "sang" }),
  play = verb("jump", "show"), perform = verb("dance", "show"), juggle = verb("dance", "show"),
    celebrate = verb("celebrate", "show"),
  party = verb("celebrate", "show", { s = "parties" }), cheer = verb("celebrate", "show"),
  compete = verb("race", "show"), win = verb("celebrate", "show", { ing = "winning", past = "won" }),
  practise = verb("jump", "show"), practice = verb("jump", "show"), train = verb("jump", "show",
    { renderer = false }), jump = verb("jump", "show"),
  hop = verb("jump", "show", { ing = "hopping" }), leap = verb("jump", "show"), bounce = verb("jump", "show"),
  hide = verb("search", "quest", { past = "hid" }), sneak = verb("walk", "journey"), camp = verb("work", "craft"),
  sleep = verb("idle", "social", { past = "slept" }), dream = verb("idle", "social"), rest = verb("idle", "social",
    { renderer = false }),
  wait = verb("idle", "social"), meditate = verb("idle", "social"), fish = verb("work", "craft", { s = "fishes" }),
  catch = verb("point", "quest", { s = "catches", past = "caught" }), sell = verb("wave", "craft", { past = "sold" }),
  serve = verb("work", "craft"), open = verb("wave", "craft", { renderer = false }), host = verb("wave", "show",
    { renderer = false }), throw = verb("celebrate", "show",
    { past = "threw" }),
  haunt = verb("fly", "quest"), ["put out"] = verb("work", "craft", { ing = "putting", past = "put" }),
  ["become friends"] = verb("meet", "social", { friends = true }), ["make friends"] = verb("meet", "social",
    { friends = true }),
  tend = verb("work", "craft"), sort = verb("work", "craft"), test = verb("work", "craft"), keep = verb("meet",
    "social", { past = "kept" }),
  put = verb("work", "craft", { ing = "putting", past = "put" }), take = verb("point", "quest", { past = "took" }),
  arrange = verb("work", "craft"), cut = verb("work", "craft", { ing = "cutting", past = "cut" }),
  start = verb("wave", "show"), pitch = verb("work", "craft"), herd = verb("walk", "journey"),
  chop = verb("work", "craft", { ing = "chopping" }), shape = verb("work", "craft"), cast = verb("point", "show",
    { past = "cast" }),
  grant = verb("point", "social"), stay = verb("idle", "social"), see = verb("walk", "journey",
    { ing = "seeing", past = "saw" }),
  rule = verb("wave", "social", { renderer = false }), photograph = verb("point", "quest"), film = verb("point",
    "quest", { renderer = false }),
}

-- Landmarks a scene may name, clothes and hats a description may name.
M.landmark_words = {
  tree = "trees", trees = "trees", shelves = "shelves", bookshelves = "shelves", books = "shelves",
  bookcase = "shelves", counter = "counter", stove = "counter", oven = "counter", window = "window",
  blackboard = "blackboard", chalkboard = "blackboard", curtains = "curtains", spotlight = "curtains",
  workbench = "workbench", tools = "workbench", seaweed = "seaweed", cactus = "cactus", cacti = "cactus",
  boat = "boat", boats = "boat", ship = "boat", rowboat = "boat", tent = "tent", campfire = "campfire",
  bonfire = "campfire", house = "house", cottage = "house", barn = "barn", bridge = "bridge",
  castle = "castle", truck = "truck", van = "truck", bench = "bench", lamppost = "lamppost", streetlight = "lamppost",
  fence = "fence", flowers = "flowers", flower = "flowers", rocket = "rocket", spaceship = "rocket",
  planet = "planet", balloon = "balloon", snowman = "snowman", windmill = "windmill", skyline = "skyline",
  skyscrapers = "skyline", buildings = "skyline", stalls = "stalls", stall = "stalls", pier = "pier",
  jetty = "pier", waves = "waves", surf = "waves", rocks = "rocks", boulders = "rocks", hills = "hills",
  peaks = "peaks", earth = "earth", sun = "sun", stars = "stars", rainbow = "rainbow", lighthouse = "lighthouse",
  table = "table", tables = "table",
}
M.garment_words = {
  parka = "coat", anorak = "raincoat", mac = "raincoat", cardigan = "sweater", jumper = "sweater",
  pullover = "sweater", blouse = "shirt", ["t-shirt"] = "shirt", tee = "shirt", gown = "dress",
  pants = "trousers", slacks = "trousers", dungarees = "overalls", wellies = "boots", wellingtons = "boots",
  sneakers = "shoes", trainers = "shoes", slippers = "shoes", spectacles = "glasses", goggles = "glasses",
  blazer = "jacket", waistcoat = "vest", poncho = "cloak", cape = "cloak", kimono = "robe", bathrobe = "robe",
  leggings = "trousers", whites = "jacket", plating = "armour", armor = "armour",
}
M.hat_words = {
  ["sou'wester"] = "souwester", souwester = "souwester", bonnet = "beanie", sombrero = "sunhat", stetson = "sunhat",
  tiara = "crown", headscarf = "hood", bowler = "tophat", trilby = "fedora", baseball = "cap",
}

-- Verbs that lead into another ("learns to dance", "wants to fly"): the second one tells the story.
M.lead_verbs = { learn = true, want = true, try = true, decide = true, hope = true, dream = true, love = true,
  like = true, begin = true, start = true, plan = true, need = true, ["set out"] = true, agree = true }

-- Words that join a cast ("and", "with") or carry no meaning for the plan.
M.stop_words = {
  a = true, an = true, the = true, ["and"] = true, with = true, who = true, that = true, his = true, her = true,
  their = true, its = true, some = true, two = true, three = true, ["in"] = true, at = true, on = true, to = true,
  of = true, by = true, from = true, into = true, through = true, across = true, under = true, over = true, near = true,
  together = true, each = true, other = true, one = true, very = true, little = true, big = true, tiny = true,
    small = true,
  old = true, young = true, brave = true, clever = true, lonely = true, friendly = true, shy = true, grumpy = true,
}

-- Prepositions that send the cast somewhere (a destination) or say where it is.
M.toward_words = { to = true, toward = true, towards = true, into = true, up = true, onto = true }
M.via_words = { across = true, through = true, over = true, along = true, past = true, around = true }
M.at_words = { ["in"] = true, at = true, on = true, by = true, near = true, inside = true, under = true, beneath = true,
  beside = true, within = true, among = true, around = true, outside = true, behind = true, above = true,
  across = true, through = true, over = true, along = true, past = true }

M.numbers = { two = 2, three = 3, pair = 2, couple = 2, twins = 2, both = 2 }

-- ---- names -----------------------------------------------------------------

M.names = {
  f = { "Mara", "Ada", "Nell", "Ivy", "Rosa", "Lena", "Maya", "Iris", "Nora", "Zoe", "Tess", "Elsie", "Hana", "Priya",
    "Amara", "Lucia", "Freya", "Noor", "Mei", "Wren" },
  m = { "Tom", "Finn", "Otto", "Sam", "Leo", "Jonah", "Arlo", "Ravi", "Kofi", "Hugo", "Milo", "Omar", "Theo", "Jun",
    "Felix", "Bruno", "Elias", "Max", "Dev", "Ned" },
  old_f = { "Agnes", "Maud", "Edith", "Ruth", "Hilda", "Greta" },
  old_m = { "Walter", "Silas", "Albert", "Otis", "Bernard", "Harold" },
  robot = { "Bolt", "Sprocket", "Gizmo", "Pixel", "Cog", "Rivet", "Widget", "Beep" },
  ghost = { "Wisp", "Boo", "Misty" }, alien = { "Zib", "Quark", "Nova" }, monster = { "Grumble", "Bumble", "Moss" },
  dragon = { "Cinder", "Ember", "Scorch" }, dinosaur = { "Rex", "Chomp", "Pebble" },
  -- animals by the colour family of their body
  red = { "Rusty", "Ember", "Scarlet", "Cherry" }, orange = { "Ginger", "Marmalade", "Clementine", "Tango" },
  yellow = { "Sunny", "Goldie", "Honey", "Butter" }, green = { "Moss", "Fern", "Basil", "Sprout" },
  blue = { "Indigo", "Skye", "Bluebell", "Splash" }, purple = { "Plum", "Violet", "Mauve", "Damson" },
  pink = { "Rosie", "Blossom", "Peony", "Candy" }, brown = { "Hazel", "Bramble", "Cocoa", "Acorn" },
  grey = { "Ash", "Sterling", "Smoky", "Pebble" }, black = { "Shadow", "Onyx", "Midnight", "Inky" },
  white = { "Snowy", "Pearl", "Frost", "Cotton" },
}

-- The colour family of each renderer colour word, for names.
M.colour_family = {
  red = "red", crimson = "red", scarlet = "red", rust = "red", maroon = "red", auburn = "red",
  orange = "orange", ginger = "orange", copper = "orange", amber = "yellow", yellow = "yellow", gold = "yellow",
  golden = "yellow", mustard = "yellow", blonde = "yellow", blond = "yellow", green = "green", emerald = "green",
  olive = "green", mint = "green", lime = "green", teal = "blue", turquoise = "blue", blue = "blue", navy = "blue",
  azure = "blue", denim = "blue", purple = "purple", violet = "purple", lavender = "purple", pink = "pink",
  magenta = "pink", brown = "brown", chestnut = "brown", tawny = "brown", tan = "brown", beige = "brown",
  khaki = "brown", cream = "white", grey = "grey", gray = "grey", silver = "grey", charcoal = "grey",
  black = "black", white = "white", ivory = "white",
}

-- Covers that take "are" ("the grey feathers are identical").
M.plural_covers = { feathers = true, scales = true, spines = true, whites = true, robes = true, clothes = true }

-- Cameras the planner writes for each motion (the renderer reads them back).
M.cameras = {
  walk = "tracking shot following the cast", race = "tracking shot following the racers",
  chase = "tracking shot following the chase", jump = "slow pull-out", celebrate = "slow pull-out",
  dance = "slow drift", fly = "slow pan right", swim = "slow pan right", point = "slow push-in",
  meet = "static wide shot", talk = "static two-shot", search = "slow pan left", wave = "static wide shot",
  work = "slow push-in", idle = "slow drift",
}

-- ---- the renderer's reading of these words ----------------------------------------

--- The keys of t in sorted order (plans and the renderer's words never depend
--- on the order pairs() happens to give).
function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- word -> "class:canonical ..." with one tag per class: the first one added wins.
local function add(map, word, tag)
  word = word:lower()
  local cls = tag:match("^(%w+):")
  local have = map[word]
  if not have then
    map[word] = tag
  elseif not (" " .. have):find(" " .. cls .. ":", 1, true) then
    map[word] = have .. " " .. tag
  end
end

local function last_word(key)
  return key:match("(%S+)$")
end

-- A multiword key ("lighthouse keeper") also teaches its last word ("keeper"),
-- unless that word is an entry of its own.
local function add_keyed(map, group, tag_of)
  for _, key in ipairs(M.sorted_keys(group)) do
    for _, tag in ipairs(tag_of(group[key])) do
      add(map, key, tag)
      local last = last_word(key)
      if key:find(" ") and not group[last] then add(map, last, tag) end
    end
  end
end

--- Verb forms: third person, -ing and past, regular unless the entry says.
function M.forms(base, entry)
  entry = entry or M.verbs[base] or {}
  local s, ing, past
  if entry.s then
    s = entry.s
  elseif base:match("[sxz]$") or base:match("[cs]h$") or base:match("[^aeiou]o$") then
    s = base .. "es"
  elseif base:match("[^aeiou]y$") then
    s = base:sub(1, -2) .. "ies"
  else
    s = base .. "s"
  end
  if entry.ing then
    ing = entry.ing
  elseif base:match("ie$") then
    ing = base:sub(1, -3) .. "ying"
  elseif base:match("[^e]e$") then
    ing = base:sub(1, -2) .. "ing"
  else
    ing = base .. "ing"
  end
  if entry.past then
    past = entry.past
  elseif base:match("e$") then
    past = base .. "d"
  elseif base:match("[^aeiou]y$") then
    past = base:sub(1, -2) .. "ied"
  else
    past = base .. "ed"
  end
  return s, ing, past
end

--- Every word the renderer should read, as word -> "class:canonical ..." tags.
function M.drawing_words()
  local map = {}
  local function kind(e) return { "kind:" .. e.draw } end
  for _, group in ipairs { M.people, M.animals, M.creatures, M.robots } do add_keyed(map, group, kind) end
  -- "the moon" in a sky is a landmark; the moon underfoot is "lunar"
  add(map, "moon", "landmark:moon")
  add(map, "lunar", "place:moonscape")
  add_keyed(map, M.places, function(e)
    local tags = {}
    if e.renderer == false then return tags end
    if e.place ~= "moonscape" then tags[1] = "place:" .. e.place end
    for _, lm in ipairs(e.landmarks) do tags[#tags + 1] = "landmark:" .. lm end
    return tags
  end)
  -- each place's phrase names it too: "the barnyard", "the riverbank", "the lakeside"
  for _, key in ipairs(M.sorted_keys(M.places)) do
    local e = M.places[key]
    local head = e.phrase:match("(%a+)%s*$")
    if e.renderer ~= false and e.place ~= "moonscape" and head and not M.places[head] then
      add(map, head, "place:" .. e.place)
    end
  end
  add_keyed(map, M.weather, function(e)
    local tags = {}
    if e.weather ~= "clear" then tags[1] = "weather:" .. e.weather end
    if e.also then tags[#tags + 1] = "weather:" .. e.also end
    if e.landmark then tags[#tags + 1] = "landmark:" .. e.landmark end
    return tags
  end)
  for _, pair in ipairs { { "clouds", "weather:cloudy" }, { "raindrops", "weather:rain" },
    { "thunderclouds", "weather:storm" } } do
    add(map, pair[1], pair[2])
  end
  add_keyed(map, M.times, function(e)
    return { "time:" .. e.time }
  end)
  for _, w in ipairs { "starry", "starlit", "stargazing" } do add(map, w, "landmark:stars") end
  for _, key in ipairs(M.sorted_keys(M.verbs)) do
    local e = M.verbs[key]
    if not key:find(" ") and e.renderer ~= false then
      local s, ing, past = M.forms(key, e)
      for _, w in ipairs { key, s, ing, past } do add(map, w, "motion:" .. e.motion) end
    end
  end
  for _, w in ipairs(M.sorted_keys(M.landmark_words)) do add(map, w, "landmark:" .. M.landmark_words[w]) end
  for _, w in ipairs(M.sorted_keys(M.garment_words)) do add(map, w, "garment:" .. M.garment_words[w]) end
  for _, w in ipairs(M.sorted_keys(M.hat_words)) do add(map, w, "hat:" .. M.hat_words[w]) end
  return map
end

return M
