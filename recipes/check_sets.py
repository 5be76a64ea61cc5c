"""The requests behind each hand-labelled set of ``recipes/check_precision.py``: infill templates and
``SemanticField`` (field, value) pairs, by set name (``--templates NAME``, ``--fields NAME``).

Each blind set brings templates and values the checks' rules had not seen; the comment above each list says what
is new in it. A set's texts are drawn once (``generate``) and labelled blind; see that recipe's docstring.
"""

from __future__ import annotations

FIELDS = [("food", "Japanese"), ("food", "Italian"), ("near", "Café Rouge"), ("area", "riverside"),
          ("priceRange", "cheap"), ("priceRange", "high"), ("customer rating", "5 out of 5"),
          ("customer rating", "low"), ("familyFriendly", "yes"), ("familyFriendly", "no"),
          ("eatType", "coffee shop"), ("name", "The Mill"), ("area", "city centre"), ("priceRange", "more than £30")]
TEMPLATES = ["The Vaults is a [MASK:3] pub near [MASK] .", "[MASK:2] is a pub in the [MASK] .",
             "The Punter serves [MASK:2] food in the [MASK:2] .", "Near [MASK:2] there is a [MASK] called Zizzi .",
             "Zizzi has a [MASK:3] and is [MASK:2] .", "The Mill is a [MASK:2] near [MASK:3] ."]
#: Templates the checks' rules were never tuned on (the third, fresh set: ``--templates fresh``).
FRESH_TEMPLATES = ["The Eagle is a [MASK:2] that serves [MASK] food .", "[MASK:3] is located near the [MASK:2] .",
                   "Giraffe is a [MASK] pub with a [MASK:3] .",
                   "In the [MASK:2] there is a [MASK:2] called The Plough .",
                   "Blue Spice serves [MASK] food and has a [MASK:2] rating .",
                   "The Waterman is [MASK:2] and is located in the [MASK] ."]
#: The fourth, blind set (``--templates fourth``): other frames again — holes at the start, holes of 1–4 words,
#: two clauses, "there is / it has / with a" frames and one template with a comma. Every fixed word is in the
#: bundled models' vocabulary (a word outside it would be ``[UNK]`` in every output).
FOURTH_TEMPLATES = ["[MASK] is a [MASK:2] with a [MASK:2] rating .",
                    "There is a [MASK:3] called [MASK:2] in the city centre .",
                    "It has a [MASK:2] rating and it is [MASK:3] .",
                    "[MASK:4] is located in the riverside area .",
                    "Browns Cambridge serves [MASK] food but it is [MASK:2] .",
                    "If you want [MASK:2] food , try [MASK:2] near [MASK:3] .",
                    "Aromi is a [MASK] restaurant with [MASK:4] .",
                    "Clowns has [MASK:3] and serves [MASK] food near the [MASK] ."]
#: The fifth, blind set (``--templates fifth``): holes inside noun phrases, 1–4 word holes right before the verb,
#: holes after "and", two-sentence templates, holes at the very end, and names at the start, middle and end.
FIFTH_TEMPLATES = ["The Rice Boat is a family [MASK] coffee shop in the [MASK:2] .",
                   "A [MASK:2] pub called Loch Fyne is near [MASK:3] .",
                   "The [MASK:3] serves cheap Italian food .",
                   "Cotto is in the city centre and [MASK:3] .",
                   "The Golden Palace is a pub . It [MASK] serves [MASK:2] food .",
                   "For [MASK] food in the [MASK:2] , visit Travellers Rest Beefeater .",
                   "Located near [MASK:2] , Strada is a [MASK:2] restaurant .",
                   "There is a pub near Café Brazil . It is called [MASK:2] .",
                   "Near the river , [MASK:4] has a low customer rating .",
                   "Fitzbillies , a [MASK] coffee shop , is cheap and [MASK:2] ."]
#: The sixth, blind set (``--templates sixth``): relative clauses, a hole inside a name, "not" before a hole, a
#: subject hole before "near", a passive frame, and holes ending each of two sentences.
SIXTH_TEMPLATES = ["The Phoenix , which is [MASK:2] , serves [MASK] food .",
                   "You can find [MASK:3] near The Sorrento .",
                   "[MASK] Spice is a [MASK:2] in the riverside area .",
                   "Wildwood is a pub with [MASK:2] prices and a [MASK:3] .",
                   "The Cambridge Blue is [MASK:3] . It is near [MASK:2] .",
                   "There is a [MASK:2] shop called [MASK] in the [MASK:2] .",
                   "Bibimbap House serves [MASK:2] and is not [MASK:2] .",
                   "Green Man , near [MASK:3] , is a [MASK] .",
                   "Children are [MASK:2] at The Eagle , a [MASK:2] pub .",
                   "Taste of Cambridge has an average [MASK:2] and [MASK:3] ."]
#: The seventh, blind set (``--templates seventh``): a subject hole before the verb, "close to", an opening
#: clause, "has X and a Y", "called X near Y", holes ending a second sentence, "offers X at Y prices", inversion.
SEVENTH_TEMPLATES = ["[MASK:2] serves Italian food and has a [MASK] price range .",
                     "Located in the [MASK:2] , The Eagle is a [MASK:2] .",
                     "The Plough is [MASK] to [MASK:2] .",
                     "If you like [MASK] food , The Wrestlers is [MASK:3] .",
                     "Midsummer House has [MASK:2] and a [MASK] customer rating .",
                     "There is a cheap [MASK] called [MASK:2] near [MASK:2] .",
                     "Clowns is a [MASK:2] . It has [MASK:3] .",
                     "[MASK:3] near the Burger King .",
                     "Cotto offers [MASK:2] at [MASK:2] prices .",
                     "Near [MASK:3] is a [MASK] called Aromi ."]
#: The eighth, blind set (``--templates eighth``): an appositive, "located [hole] Café Rouge", a plural subject,
#: "there is" after a fronted phrase, coordinated names, "not X but Y", "for [hole]", a fronted "with" phrase, and
#: a four-word predicate.
EIGHTH_TEMPLATES = ["The Waterman , a [MASK:2] , is [MASK:3] .",
                    "[MASK] is a [MASK:2] located [MASK:2] Café Rouge .",
                    "Families will find [MASK:2] at Zizzi .",
                    "At the [MASK:2] , there is [MASK:3] .",
                    "Giraffe and [MASK:2] are both [MASK] .",
                    "The Punter is not [MASK:2] but it is [MASK] .",
                    "Strada offers [MASK] food for [MASK:3] .",
                    "With a [MASK:2] rating , [MASK:2] is a pub .",
                    "[MASK:2] , near The Portland Arms , serves [MASK:2] .",
                    "Blue Spice is [MASK:4] ."]
#: The ninth, blind set (``--templates ninth``): "where you can", "for a … meal , go to", a passive with a
#: subject hole, an appositive participle, a pronoun subject, "rate X as Y", a relative "that", a fronted name with
#: an appositive, a concessive clause and a plural "prices are".
NINTH_TEMPLATES = ["Midsummer House is a [MASK:3] where you can eat [MASK] food .",
                   "For a [MASK:2] meal , go to [MASK:2] .",
                   "[MASK:2] food is served at [MASK:3] .",
                   "The Wrestlers , located in the [MASK:2] , is [MASK:2] .",
                   "It is a [MASK] coffee shop near [MASK:2] .",
                   "Customers rate [MASK:2] as [MASK] .",
                   "The Golden Palace is a family friendly [MASK] that [MASK:3] .",
                   "[MASK] , a pub in the [MASK:2] , is [MASK] friendly .",
                   "Although it is [MASK:2] , The Cambridge Blue [MASK:2] .",
                   "Prices at [MASK:2] are [MASK:2] ."]
#: The tenth, blind set (``--templates tenth``): a fronted "when in" phrase, a subject hole before a relative clause,
#: a fronted participle, a causal clause, a coordinated predicate, a non-restrictive "which", a conditional, "such
#: as", a three-item list and "you will find".
TENTH_TEMPLATES = ["When in the [MASK:2] , try [MASK:2] .",
                   "[MASK:2] is a coffee shop that serves [MASK] food .",
                   "Located near [MASK:2] , The Eagle is [MASK:3] .",
                   "While it is [MASK] friendly , families [MASK:2] Cotto .",
                   "The Mill has [MASK:3] and serves [MASK] food .",
                   "Bibimbap House , which is [MASK:2] , has [MASK:2] .",
                   "If you want [MASK:2] food , [MASK:2] is near Clare Hall .",
                   "There are [MASK:2] near The Rice Boat , such as [MASK:2] .",
                   "Loch Fyne is [MASK] , [MASK] and [MASK] .",
                   "You will find [MASK:2] in the [MASK:2] ."]
#: The eleventh, blind set (``--templates eleventh``): a conditional then an imperative, "a pub with", a relative
#: "which" inside the subject, an extraposed "it is … to find", "a … place to", "are both", an inversion after
#: "not far from", "the food at … is", "a rating of" and "should visit … for".
ELEVENTH_TEMPLATES = ["If you are looking for [MASK:2] food , try [MASK:2] .",
                      "The Plough is a pub with [MASK:3] .",
                      "[MASK:2] , which serves [MASK] food , is near Café Sicilia .",
                      "It is [MASK] to find [MASK:2] near the river .",
                      "Cocum is a [MASK] place to [MASK:2] .",
                      "The Punter and [MASK:2] are both [MASK:2] .",
                      "Not far from [MASK:2] is a [MASK:2] called Alimentum .",
                      "The food at [MASK:2] is [MASK] and [MASK] .",
                      "[MASK:3] has a rating of [MASK:3] .",
                      "You should visit [MASK:2] for [MASK:3] ."]
#: The twelfth, blind set (``--templates twelfth``): a fronted "for" phrase, "the name of", a fronted participle
#: before a subject hole, "in a … setting", a relative "that" after "called", two coordinated objects, a conditional
#: "if you are in", "not … , but it", a subject hole before a place phrase and "with" after a three-word hole.
TWELFTH_TEMPLATES = ["For [MASK:2] , The Golden Palace is [MASK:2] .",
                     "[MASK] is the name of a [MASK:2] near the river .",
                     "Located in the [MASK:2] , [MASK:2] has a high rating .",
                     "The Vaults offers [MASK:2] in a [MASK:2] setting .",
                     "There is a [MASK:2] called Giraffe that [MASK:3] .",
                     "Aromi has [MASK] food and [MASK:2] prices .",
                     "If you are in the [MASK:2] , [MASK:2] is a good choice .",
                     "Green Man is not [MASK:2] , but it [MASK:2] .",
                     "[MASK:2] near Burger King serves [MASK:2] .",
                     "The Cricketers is a [MASK:3] with [MASK:2] ."]
TEMPLATE_SETS = {"first": TEMPLATES, "fresh": FRESH_TEMPLATES, "fourth": FOURTH_TEMPLATES,
                 "fifth": FIFTH_TEMPLATES, "sixth": SIXTH_TEMPLATES, "seventh": SEVENTH_TEMPLATES,
                 "eighth": EIGHTH_TEMPLATES, "ninth": NINTH_TEMPLATES,
                 "tenth": TENTH_TEMPLATES, "eleventh": ELEVENTH_TEMPLATES,
                 "twelfth": TWELFTH_TEMPLATES}
#: (field, value) requests of the fourth set (``--fields fourth``): mostly values ``FIELDS`` did not ask for —
#: other foods (one, Indian, that is also part of a landmark's name), a name, landmarks, eatType, price ranges
#: and ratings — plus area and both familyFriendly values.
FOURTH_FIELDS = [("food", "Chinese"), ("food", "French"), ("food", "Indian"), ("name", "Blue Spice"),
                 ("near", "Burger King"), ("near", "Café Sicilia"), ("area", "riverside"), ("eatType", "pub"),
                 ("priceRange", "moderate"), ("priceRange", "less than £20"), ("customer rating", "average"),
                 ("customer rating", "1 out of 5"), ("familyFriendly", "yes"), ("familyFriendly", "no")]
#: The fifth set's requests (``--fields fifth``): 14 (field, value) pairs, all but one new to both earlier lists —
#: the other foods, names, landmarks, eatType, price range and ratings — and "city centre" (an area has two values).
FIFTH_FIELDS = [("food", "English"), ("food", "Fast food"), ("name", "Cotto"), ("name", "The Golden Palace"),
                ("name", "Strada"), ("name", "Giraffe"), ("near", "The Portland Arms"),
                ("near", "Rainbow Vegetarian Café"), ("near", "Express by Holiday Inn"), ("area", "city centre"),
                ("eatType", "restaurant"), ("priceRange", "£20-25"), ("customer rating", "high"),
                ("customer rating", "3 out of 5")]
#: The sixth set's requests (``--fields sixth``): names and landmarks none of the earlier lists asked for, and six
#: values asked before (every E2E food, area, price and rating value has now been asked once).
SIXTH_FIELDS = [("name", "The Eagle"), ("name", "Alimentum"), ("name", "The Wrestlers"), ("name", "Loch Fyne"),
                ("near", "Avalon"), ("near", "The Bakers"), ("near", "Crowne Plaza Hotel"), ("near", "All Bar One"),
                ("food", "Japanese"), ("food", "Chinese"), ("priceRange", "high"), ("customer rating", "low"),
                ("familyFriendly", "yes"), ("area", "riverside")]
#: The seventh set's requests (``--fields seventh``): four names and four landmarks no list asked for before, and
#: six values asked before.
SEVENTH_FIELDS = [("name", "Midsummer House"), ("name", "The Cricketers"), ("name", "Cocum"),
                  ("name", "Bibimbap House"), ("near", "Clare Hall"), ("near", "Ranch"), ("near", "The Rice Boat"),
                  ("near", "Café Brazil"), ("food", "Italian"), ("food", "French"), ("priceRange", "moderate"),
                  ("customer rating", "5 out of 5"), ("familyFriendly", "no"), ("area", "city centre")]
#: The eighth set's requests (``--fields eighth``): names and landmarks asked before only in templates or not at all,
#: and values of every other field again.
EIGHTH_FIELDS = [("name", "Zizzi"), ("name", "The Waterman"), ("name", "Browns Cambridge"), ("name", "Aromi"),
                 ("near", "Café Rouge"), ("near", "Burger King"), ("near", "The Portland Arms"),
                 ("near", "Express by Holiday Inn"), ("food", "English"), ("food", "Indian"),
                 ("priceRange", "less than £20"), ("priceRange", "more than £30"), ("customer rating", "average"),
                 ("customer rating", "1 out of 5")]
#: The ninth set's requests (``--fields ninth``): four names and three landmarks no list asked for as a field before,
#: one landmark again, and six values asked before.
NINTH_FIELDS = [("name", "Fitzbillies"), ("name", "Clowns"), ("name", "The Phoenix"),
                ("name", "Travellers Rest Beefeater"), ("near", "Clare Hall"), ("near", "Luton"),
                ("near", "The Sorrento"), ("near", "Raja Indian Cuisine"), ("food", "Fast food"), ("food", "Italian"),
                ("priceRange", "cheap"), ("priceRange", "£20-25"), ("customer rating", "3 out of 5"),
                ("familyFriendly", "yes")]
#: The tenth set's requests (``--fields tenth``): five names no list asked for as a field before, three landmarks
#: asked before, and six values of the other fields again.
TENTH_FIELDS = [("name", "The Vaults"), ("name", "Wildwood"), ("name", "Green Man"), ("name", "The Cambridge Blue"),
                ("name", "Taste of Cambridge"), ("near", "Café Brazil"), ("near", "Rainbow Vegetarian Café"),
                ("near", "Crowne Plaza Hotel"), ("food", "Japanese"), ("food", "French"), ("eatType", "coffee shop"),
                ("priceRange", "high"), ("customer rating", "5 out of 5"), ("familyFriendly", "no")]
#: The eleventh set's requests (``--fields eleventh``): the two names no list asked for as a field, a name and a
#: landmark no data has (written from in-vocabulary words: the open-vocabulary case), three names and two landmarks
#: again, and five values of the other fields.
ELEVENTH_FIELDS = [("name", "The Punter"), ("name", "The Plough"), ("name", "The Golden Mill"), ("name", "Cocum"),
                   ("name", "The Eagle"), ("near", "The Bakers"), ("near", "Café Blue"), ("near", "Ranch"),
                   ("food", "Indian"), ("food", "Chinese"), ("area", "riverside"), ("eatType", "pub"),
                   ("priceRange", "less than £20"), ("customer rating", "low")]
#: The twelfth set's requests (``--fields twelfth``): three names and two landmarks asked before, a name and a
#: landmark no data has (from in-vocabulary words), and seven values of the other fields.
TWELFTH_FIELDS = [("name", "Aromi"), ("name", "The Wrestlers"), ("name", "Blue Spice"), ("name", "The Golden Plough"),
                  ("near", "Avalon"), ("near", "All Bar One"), ("near", "Clare Palace"), ("food", "English"),
                  ("food", "Italian"), ("area", "city centre"), ("eatType", "restaurant"), ("priceRange", "moderate"),
                  ("customer rating", "average"), ("familyFriendly", "yes")]
FIELD_SETS = {"first": FIELDS, "fourth": FOURTH_FIELDS, "fifth": FIFTH_FIELDS, "sixth": SIXTH_FIELDS,
              "seventh": SEVENTH_FIELDS, "eighth": EIGHTH_FIELDS, "ninth": NINTH_FIELDS,
              "tenth": TENTH_FIELDS, "eleventh": ELEVENTH_FIELDS,
              "twelfth": TWELFTH_FIELDS}
